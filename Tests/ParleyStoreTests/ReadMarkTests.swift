import Foundation
import ParleyCore
import ParleyStore
import Testing

@Suite("Read marks", .timeLimit(.minutes(1)))
struct ReadMarkTests {
    @Test("markRead moves forward only, is clamped to last_seq, and says whether it moved", arguments: StoreFactory.all)
    func forwardOnly(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let group = try await store.makeGroup(ann, [bob])

            // Nothing to read yet.
            var change = try await store.markRead(conversationID: group.id, reader: bob, seq: 5)
            #expect(!change.moved)
            #expect(change.mark == ReadMark(conversationID: group.id, lastSeq: 0, readSeq: 0))

            for index in 1...5 { try await store.send("m\(index)", to: group.id, from: ann) }

            change = try await store.markRead(conversationID: group.id, reader: bob, seq: 3)
            #expect(change.moved)
            #expect(change.mark == ReadMark(conversationID: group.id, lastSeq: 5, readSeq: 3))
            #expect(change.mark.unread == 2)

            change = try await store.markRead(conversationID: group.id, reader: bob, seq: 3)
            #expect(!change.moved, "same seq: no move")
            #expect(change.mark.readSeq == 3)

            change = try await store.markRead(conversationID: group.id, reader: bob, seq: 1)
            #expect(!change.moved, "never back")
            #expect(change.mark.readSeq == 3)

            change = try await store.markRead(conversationID: group.id, reader: bob, seq: 0)
            #expect(!change.moved)
            #expect(change.mark.readSeq == 3)

            change = try await store.markRead(conversationID: group.id, reader: bob, seq: 1_000)
            #expect(change.moved)
            #expect(change.mark == ReadMark(conversationID: group.id, lastSeq: 5, readSeq: 5), "clamped to last_seq")

            change = try await store.markRead(conversationID: group.id, reader: bob, seq: 1_000)
            #expect(!change.moved, "already at last_seq")
            #expect(change.mark.readSeq == 5)

            let conversation = try await store.conversation(id: group.id, viewer: bob.key)
            #expect(conversation.readSeq(of: bob.key) == 5)
            #expect(conversation.unread(of: bob.key) == 0)
            #expect(try await store.readMarks(of: bob.key) == [ReadMark(conversationID: group.id, lastSeq: 5, readSeq: 5)])

            // A new message makes one unread again; the mark stays where it was.
            try await store.send("m6", to: group.id, from: ann)
            #expect(try await store.readMarks(of: bob.key) == [ReadMark(conversationID: group.id, lastSeq: 6, readSeq: 5)])
        }
    }

    @Test("sending moves the sender's own mark to its message; the others' unread grows", arguments: StoreFactory.all)
    func sendingMovesOwnMark(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]
            let group = try await store.makeGroup(ann, [bob, cat])

            for index in 1...3 { try await store.send("a\(index)", to: group.id, from: ann) }
            var conversation = try await store.conversation(id: group.id, viewer: ann.key)
            #expect(conversation.lastSeq == 3)
            #expect(conversation.readSeq(of: ann.key) == 3)
            #expect(conversation.unread(of: ann.key) == 0)
            #expect(conversation.readSeq(of: bob.key) == 0)
            #expect(conversation.unread(of: bob.key) == 3)
            #expect(conversation.unread(of: cat.key) == 3)

            _ = try await store.markRead(conversationID: group.id, reader: bob, seq: 2)
            try await store.send("b1", to: group.id, from: bob)
            conversation = try await store.conversation(id: group.id, viewer: cat.key)
            #expect(conversation.lastSeq == 4)
            #expect(conversation.readSeq(of: bob.key) == 4, "Bob's mark jumps to his own message")
            #expect(conversation.unread(of: bob.key) == 0)
            #expect(conversation.readSeq(of: ann.key) == 3)
            #expect(conversation.unread(of: ann.key) == 1)
            #expect(conversation.unread(of: cat.key) == 4)

            try await store.send("c1", to: group.id, from: cat)
            conversation = try await store.conversation(id: group.id, viewer: cat.key)
            #expect(conversation.unread(of: cat.key) == 0)
            #expect(conversation.unread(of: ann.key) == 2)
            #expect(conversation.unread(of: bob.key) == 1)
            #expect(conversation.members.map(\.readSeq) == [3, 4, 5])

            // Each member's view agrees, whoever asks.
            for viewer in [ann, bob, cat] {
                let seen = try await store.conversation(id: group.id, viewer: viewer.key)
                #expect(seen == conversation)
                #expect(try await store.readMarks(of: viewer.key)
                    == [ReadMark(conversationID: group.id, lastSeq: 5, readSeq: conversation.readSeq(of: viewer.key))])
            }
        }
    }

    @Test("a burst of concurrent sends leaves each sender's mark at its own last message", arguments: StoreFactory.all)
    func concurrentSendsMoveMarks(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "dan")
            let group = try await store.makeGroup(people[0], Array(people.dropFirst()))
            let senders = Array(people.prefix(3)) // Dan only reads.
            let outcomes = try await withThrowingTaskGroup(of: [AppendOutcome].self) { taskGroup in
                for sender in senders {
                    taskGroup.addTask {
                        var sent: [AppendOutcome] = []
                        for index in 0..<30 { sent.append(try await store.send("\(index)", to: group.id, from: sender)) }
                        return sent
                    }
                }
                return try await taskGroup.reduce(into: []) { $0 += $1 }
            }
            let conversation = try await store.conversation(id: group.id, viewer: people[3].key)
            #expect(conversation.lastSeq == 90)
            for sender in senders {
                let lastOwn = outcomes.filter { $0.message.sender == sender.user }.map(\.message.seq).max()
                #expect(conversation.readSeq(of: sender.key) == lastOwn, "\(sender.user.handle)")
                #expect(conversation.unread(of: sender.key) == 90 - (lastOwn ?? 0))
            }
            #expect(conversation.readSeq(of: people[3].key) == 0)
            #expect(conversation.unread(of: people[3].key) == 90)
        }
    }

    @Test("readMarks(of:) lists each of the user's conversations once with its last seq and the user's mark", arguments: StoreFactory.all)
    func readMarksSnapshot(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]
            let group = try await store.makeGroup(ann, [bob, cat])
            let withBob = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            let withCat = try await store.openDirect(between: cat, andUserID: ann.user.id).conversation
            let notAnns = try await store.openDirect(between: bob, andUserID: cat.user.id).conversation

            for index in 1...4 { try await store.send("g\(index)", to: group.id, from: bob) }
            try await store.send("hi ann", to: withBob.id, from: bob)
            try await store.send("hi bob", to: withBob.id, from: ann)
            try await store.send("hi bob", to: withBob.id, from: bob)
            try await store.send("psst", to: notAnns.id, from: cat)
            _ = try await store.markRead(conversationID: group.id, reader: ann, seq: 2)

            let marks = try await store.readMarks(of: ann.key)
            #expect(marks.count == 3)
            let byID = Dictionary(marks.map { ($0.conversationID, $0) }, uniquingKeysWith: { first, _ in first })
            #expect(byID.count == 3, "each conversation once")
            #expect(byID[group.id] == ReadMark(conversationID: group.id, lastSeq: 4, readSeq: 2))
            #expect(byID[withBob.id] == ReadMark(conversationID: withBob.id, lastSeq: 3, readSeq: 2))
            #expect(byID[withCat.id] == ReadMark(conversationID: withCat.id, lastSeq: 0, readSeq: 0))
            #expect(byID[notAnns.id] == nil)
            #expect(marks.map(\.unread).reduce(0, +) == 3)

            // The marks agree with what the conversations say.
            for mark in marks {
                let conversation = try await store.conversation(id: mark.conversationID, viewer: ann.key)
                #expect(mark.lastSeq == conversation.lastSeq)
                #expect(mark.readSeq == conversation.readSeq(of: ann.key))
                #expect(mark.unread == conversation.unread(of: ann.key))
            }
        }
    }

    @Test("read marks of one conversation do not touch another", arguments: StoreFactory.all)
    func marksAreIndependent(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let first = try await store.makeGroup(ann, [bob], title: "first")
            let second = try await store.makeGroup(ann, [bob], title: "second")
            for _ in 0..<3 {
                try await store.send("x", to: first.id, from: ann)
                try await store.send("y", to: second.id, from: ann)
            }
            let moved = try await store.markRead(conversationID: first.id, reader: bob, seq: 3)
            #expect(moved.moved)
            #expect(try await store.conversation(id: first.id, viewer: bob.key).unread(of: bob.key) == 0)
            #expect(try await store.conversation(id: second.id, viewer: bob.key).unread(of: bob.key) == 3)
        }
    }
}
