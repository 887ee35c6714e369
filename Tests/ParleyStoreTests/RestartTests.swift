import Foundation
import ParleyCore
import ParleyStore
import Testing

/// Closing the store and opening the same database again, as a restarted
/// server does. Each phase reaches the store through `fixture.store` so no
/// reference to the old instance outlives its close.
@Suite("Restart", .timeLimit(.minutes(1)))
struct RestartTests {
    struct World {
        let ann: Account
        let bob: Account
        let cat: Account
        let group: Conversation
        let direct: Conversation
        let sent: [Message]
    }

    static func populate(_ store: any ChatStore, _ clock: TestClock) async throws -> World {
        let people = try await store.makeAccounts("ann", "bob", "cat")
        let ann = people[0], bob = people[1], cat = people[2]
        let group = try await store.makeGroup(ann, [bob, cat], title: "Before the restart")
        let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
        var sent: [Message] = []
        for index in 1...5 {
            clock.advance(by: 100)
            sent.append(try await store.send("g\(index)", to: group.id, from: index.isMultiple(of: 2) ? bob : ann, clientID: "g\(index)").message)
        }
        clock.advance(by: 100)
        try await store.send("d1", to: direct.id, from: bob, clientID: "d1")
        _ = try await store.markRead(conversationID: group.id, reader: cat, seq: 3)
        _ = try await store.removeMember(conversationID: group.id, actor: ann.key, userID: ann.user.id) // Bob inherits.
        return World(ann: ann, bob: bob, cat: cat, group: group, direct: direct, sent: sent)
    }

    @Test("everything is there after a restart, and seqs continue from the last one", arguments: StoreFactory.all)
    func dataSurvivesRestart(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let world = try await Self.populate(fixture.store, fixture.clock)
            let groupBefore = try await fixture.store.conversation(id: world.group.id, viewer: world.bob.key)
            let directBefore = try await fixture.store.conversation(id: world.direct.id, viewer: world.bob.key)
            let listBefore = try await fixture.store.conversations(of: world.bob.key, limit: 10, after: nil).conversations
            let marksBefore = try await fixture.store.readMarks(of: world.cat.key)

            try await fixture.restart()
            let store = fixture.store

            // Accounts.
            #expect(try await store.account(id: world.ann.user.id) == world.ann)
            #expect(try await store.credentials(handleKey: "bob")?.account == world.bob)

            // Conversations, members, owner and read marks, exactly as before.
            let group = try await store.conversation(id: world.group.id, viewer: world.bob.key)
            #expect(group == groupBefore)
            #expect(group.owner == world.bob.user)
            #expect(group.members.keys == [world.bob.key, world.cat.key])
            #expect(group.lastSeq == 5)
            #expect(group.readSeq(of: world.bob.key) == 4, "Bob's mark moved by his last message")
            #expect(group.readSeq(of: world.cat.key) == 3, "Cat's mark moved by markRead")
            #expect(try await store.conversation(id: world.direct.id, viewer: world.bob.key) == directBefore)
            #expect(try await store.conversations(of: world.bob.key, limit: 10, after: nil).conversations == listBefore)
            #expect(try await store.readMarks(of: world.cat.key) == marksBefore)
            await expectConversationNotFound { _ = try await store.conversation(id: world.group.id, viewer: world.ann.key) }

            // History.
            #expect(try await store.allMessages(of: world.group.id, viewer: world.cat.key) == world.sent)

            // The next message gets the next seq, and moves the sender's mark.
            let next = try await store.send("after restart", to: world.group.id, from: world.cat)
            #expect(next.message.seq == 6)
            #expect(Set(next.recipients) == [world.bob.key, world.cat.key])
            #expect(try await store.send("again", to: world.direct.id, from: world.ann).message.seq == 2)
            let after = try await store.conversation(id: world.group.id, viewer: world.cat.key)
            #expect(after.readSeq(of: world.cat.key) == 6)
            #expect(after.unread(of: world.bob.key) == 2)

            // A retry of a message sent before the restart is still recognised…
            let retry = try await store.send("g2 retried", to: world.group.id, from: world.bob, clientID: "g2")
            #expect(retry.duplicate)
            #expect(retry.message == world.sent[1])
            // …but not from someone who has left since.
            await expectConversationNotFound {
                _ = try await store.send("g1 retried", to: world.group.id, from: world.ann, clientID: "g1")
            }
            #expect(try await store.conversation(id: world.group.id, viewer: world.bob.key).lastSeq == 6)
        }
    }

    @Test("a retry of a message stored before a restart is answered with the original", arguments: StoreFactory.all)
    func idempotencySurvivesRestart(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let people = try await fixture.store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let group = try await fixture.store.makeGroup(ann, [bob])
            let original = try await fixture.store.send("once", to: group.id, from: ann, clientID: "c1")

            try await fixture.restart()
            let store = fixture.store
            let retry = try await store.send("twice", to: group.id, from: ann, clientID: "c1")
            #expect(retry.duplicate)
            #expect(retry.message == original.message)
            let next = try await store.send("new", to: group.id, from: ann, clientID: "c2")
            #expect(next.message.seq == 2)
            #expect(!next.duplicate)
        }
    }

    @Test("seqs continue after a restart that follows a burst of concurrent appends", arguments: StoreFactory.all)
    func seqContinuesAfterBurst(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let people = try await fixture.store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let group = try await fixture.store.makeGroup(ann, [bob])
            let direct = try await fixture.store.openDirect(between: ann, andUserID: bob.user.id).conversation
            let store = fixture.store
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for task in 0..<8 {
                    tasks.addTask {
                        for index in 0..<25 {
                            try await store.send("\(task)-\(index)", to: task < 6 ? group.id : direct.id, from: task.isMultiple(of: 2) ? ann : bob)
                        }
                    }
                }
                try await tasks.waitForAll()
            }

            // Two restarts in a row: nothing is lost or replayed.
            try await fixture.restart()
            try await fixture.restart()

            #expect(try await fixture.store.conversation(id: group.id, viewer: ann.key).lastSeq == 150)
            #expect(try await fixture.store.conversation(id: direct.id, viewer: ann.key).lastSeq == 50)
            #expect(try await fixture.store.send("next", to: group.id, from: bob).message.seq == 151)
            #expect(try await fixture.store.send("next", to: direct.id, from: bob).message.seq == 51)
            #expect(try await fixture.store.allMessages(of: group.id, viewer: bob.key).map(\.seq) == Array(1...151))
        }
    }
}
