import Foundation
import ParleyCore
import ParleyStore
import Testing

/// A client_id names one message of one sender in one conversation: a retry
/// is answered with the original and stores nothing.
@Suite("Idempotent appends", .timeLimit(.minutes(1)))
struct IdempotencyTests {
    @Test("a retry with the same client_id returns duplicate: true and the original message, even with other text", arguments: StoreFactory.all)
    func retryReturnsTheOriginal(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let conversation = try await store.makeGroup(ann, [bob])

            let original = try await store.send("hello", to: conversation.id, from: ann, clientID: "c-1")
            #expect(!original.duplicate)
            #expect(original.message.seq == 1)
            #expect(original.message.text == "hello")
            #expect(original.message.clientID == "c-1")

            try await store.send("something else", to: conversation.id, from: bob, clientID: "b-1")
            fixture.clock.advance(by: 60_000)

            let retry = try await store.send("hello, edited", to: conversation.id, from: ann, clientID: "c-1")
            #expect(retry.duplicate)
            #expect(retry.message == original.message, "same id, seq, text, ts and client_id as the original")

            let stored = try await store.allMessages(of: conversation.id, viewer: ann.key)
            #expect(stored.map(\.seq) == [1, 2])
            #expect(stored.filter { $0.clientID == "c-1" } == [original.message])

            // The retry used up no seq.
            #expect(try await store.conversation(id: conversation.id, viewer: ann.key).lastSeq == 2)
            let next = try await store.send("next", to: conversation.id, from: ann, clientID: "c-2")
            #expect(next.message.seq == 3)
            #expect(!next.duplicate)
        }
    }

    @Test("a retry does not touch read marks or last activity", arguments: StoreFactory.all)
    func retryChangesNothing(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let conversation = try await store.makeGroup(ann, [bob])
            try await store.send("one", to: conversation.id, from: ann, clientID: "a-1")
            fixture.clock.advance(by: 1000)
            try await store.send("two", to: conversation.id, from: bob, clientID: "b-1")
            let before = try await store.conversation(id: conversation.id, viewer: ann.key)
            #expect(before.readSeq(of: ann.key) == 1)

            fixture.clock.advance(by: 1000)
            let retry = try await store.send("one again", to: conversation.id, from: ann, clientID: "a-1")
            #expect(retry.duplicate)
            #expect(retry.message.seq == 1)

            let after = try await store.conversation(id: conversation.id, viewer: ann.key)
            #expect(after == before, "a duplicate changes no seq, read mark or activity time")
        }
    }

    @Test("the same client_id sent concurrently is stored once; every other attempt gets the original", arguments: StoreFactory.all)
    func concurrentRetriesStoreOnce(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let conversation = try await store.makeGroup(ann, [bob])

            let attempts = 16
            let outcomes = try await withThrowingTaskGroup(of: AppendOutcome.self) { group in
                for attempt in 0..<attempts {
                    group.addTask {
                        try await store.send("attempt \(attempt)", to: conversation.id, from: ann, clientID: "same")
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }

            let originals = outcomes.filter { !$0.duplicate }
            try #require(originals.count == 1, "exactly one attempt stores the message")
            let original = originals[0].message
            #expect(original.seq == 1)
            #expect(outcomes.allSatisfy { $0.message == original })

            let stored = try await store.allMessages(of: conversation.id, viewer: bob.key)
            #expect(stored == [original])
        }
    }

    /// Submitted back to back without waiting, behind a queue of other work,
    /// so that both land in one batch: the second must find the first even
    /// though neither is committed yet.
    @Test("the same client_id twice within one batch is stored once", arguments: StoreFactory.all)
    func duplicateWithinOneBatch(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let conversation = try await store.makeGroup(ann, [bob])

            let recorder = CompletionRecorder()
            let fillers = 200
            for index in 0..<fillers {
                recorder.submit(store, AppendRequest(
                    conversationID: conversation.id, sender: bob, text: "filler \(index)", clientID: "f\(index)"), tag: index)
            }
            recorder.submit(store, AppendRequest(conversationID: conversation.id, sender: ann, text: "first", clientID: "x"), tag: 1000)
            recorder.submit(store, AppendRequest(conversationID: conversation.id, sender: ann, text: "second", clientID: "x"), tag: 1001)
            // Another filler after the pair, so the pair sits inside a batch.
            recorder.submit(store, AppendRequest(conversationID: conversation.id, sender: bob, text: "tail", clientID: "tail"), tag: 2000)
            try await recorder.waitForCompletions(fillers + 3)

            let a = try #require(recorder.outcome(tag: 1000))
            let b = try #require(recorder.outcome(tag: 1001))
            #expect([a.duplicate, b.duplicate].filter { $0 }.count == 1, "one original, one duplicate")
            #expect(a.message == b.message)

            let stored = try await store.allMessages(of: conversation.id, viewer: ann.key)
            #expect(stored.count == fillers + 2)
            #expect(stored.map(\.seq) == Array(1...Int64(fillers + 2)), "the duplicate left no gap")
            #expect(stored.filter { $0.clientID == "x" } == [a.message])
            let tail = try #require(recorder.outcome(tag: 2000))
            #expect(tail.message.seq == Int64(fillers + 2))
        }
    }

    @Test("the same client_id from another sender is a new message", arguments: StoreFactory.all)
    func sameClientIDOtherSender(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let conversation = try await store.makeGroup(ann, [bob])

            let fromAnn = try await store.send("from ann", to: conversation.id, from: ann, clientID: "shared")
            let fromBob = try await store.send("from bob", to: conversation.id, from: bob, clientID: "shared")
            #expect(!fromBob.duplicate)
            #expect(fromBob.message.seq == 2)
            #expect(fromBob.message.id != fromAnn.message.id)
            #expect(fromBob.message.text == "from bob")
            #expect(fromBob.message.sender == bob.user)

            let stored = try await store.allMessages(of: conversation.id, viewer: ann.key)
            #expect(stored == [fromAnn.message, fromBob.message])
        }
    }

    @Test("the same client_id in another conversation is a new message", arguments: StoreFactory.all)
    func sameClientIDOtherConversation(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let group = try await store.makeGroup(ann, [bob])
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation

            let inGroup = try await store.send("in group", to: group.id, from: ann, clientID: "shared")
            let inDirect = try await store.send("in direct", to: direct.id, from: ann, clientID: "shared")
            #expect(!inDirect.duplicate)
            #expect(inDirect.message.seq == 1)
            #expect(inDirect.message.conversationID == direct.id)
            #expect(inDirect.message.id != inGroup.message.id)
            #expect(inDirect.message.text == "in direct")

            #expect(try await store.allMessages(of: group.id, viewer: ann.key) == [inGroup.message])
            #expect(try await store.allMessages(of: direct.id, viewer: ann.key) == [inDirect.message])
        }
    }
}
