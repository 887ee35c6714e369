import Foundation
import ParleyCore
import ParleyStore
import Testing

/// Writes are committed in batches. A refusal inside a batch must not cost
/// the other writes of that batch anything, and closing must finish what was
/// queued.
@Suite("Batches and closing", .timeLimit(.minutes(1)))
struct BatchTests {
    @Test("refused appends in the same batch as good ones do not affect them", arguments: StoreFactory.all)
    func refusedAppendsLoseNothing(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "eve")
            let ann = people[0], bob = people[1], eve = people[2]
            let group = try await store.makeGroup(ann, [bob])

            // Submitted back to back without waiting: they queue up and commit together.
            let recorder = CompletionRecorder()
            var good: [Int] = []
            var refused: [Int] = []
            for index in 0..<60 {
                let request: AppendRequest
                switch index % 4 {
                case 1:
                    request = AppendRequest(conversationID: group.id, sender: eve, text: "intruder \(index)", clientID: "e\(index)")
                    refused.append(index)
                case 3:
                    let id = index.isMultiple(of: 8) ? UnknownIDs.wellFormed : "garbage-\(index)"
                    request = AppendRequest(conversationID: id, sender: ann, text: "lost \(index)", clientID: "l\(index)")
                    refused.append(index)
                default:
                    request = AppendRequest(
                        conversationID: group.id, sender: index.isMultiple(of: 2) ? ann : bob, text: "good \(index)", clientID: "g\(index)")
                    good.append(index)
                }
                recorder.submit(store, request, tag: index)
            }
            try await recorder.waitForCompletions(60)

            for index in refused {
                #expect(chatError(recorder.result(tag: index)) == .conversationNotFound, "append \(index)")
            }
            let outcomes = good.compactMap { recorder.outcome(tag: $0) }
            #expect(outcomes.count == good.count)
            #expect(outcomes.map(\.message.seq).sorted() == Array(1...Int64(good.count)))

            let stored = try await store.allMessages(of: group.id, viewer: ann.key)
            #expect(stored.map(\.seq) == Array(1...Int64(good.count)))
            #expect(stored.map(\.text).sorted() == good.map { "good \($0)" }.sorted())
            #expect(stored == outcomes.map(\.message).sorted { $0.seq < $1.seq })
            #expect(try await store.conversation(id: group.id, viewer: ann.key).lastSeq == Int64(good.count))

            // And it is all durable.
            try await fixture.restart()
            #expect(try await fixture.store.allMessages(of: group.id, viewer: bob.key) == stored)
            #expect(try await fixture.store.send("next", to: group.id, from: bob).message.seq == Int64(good.count + 1))
        }
    }

    /// Appends racing with writes that are refused (forbidden membership
    /// changes, a taken handle, an external user with no free handle, an
    /// outsider's read mark):
    /// a refusal may undo only its own work, never the appends committed in
    /// the same batch.
    @Test("refused writes of other kinds mixed into a burst of appends undo nothing else", arguments: StoreFactory.all)
    func refusedWritesLoseNothing(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "eve")
            let ann = people[0], bob = people[1], cat = people[2], eve = people[3]
            let group = try await store.makeGroup(ann, [bob])
            try await store.recordToken(TokenRecord(id: "taken", user: ann.key, issuedTS: 0, expiresTS: fixture.clock.now + 1000))

            let refusals = Locked(0)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for task in 0..<4 {
                    tasks.addTask {
                        for index in 0..<40 {
                            try await store.send("\(task)/\(index)", to: group.id, from: task.isMultiple(of: 2) ? ann : bob)
                        }
                    }
                }
                tasks.addTask {
                    for round in 0..<40 {
                        do {
                            try await cancellable {
                                switch round % 5 {
                                case 0: _ = try await store.addMember(conversationID: group.id, actor: bob.key, userID: cat.user.id)
                                case 1: _ = try await store.makeAccount("ANN")
                                case 2:
                                    _ = try await store.provisionAccount(
                                        ExternalAccount(externalID: "late", handles: [("bob", "bob")], displayName: nil))
                                case 3: _ = try await store.markRead(conversationID: group.id, reader: eve, seq: 1)
                                default: _ = try await store.removeMember(conversationID: group.id, actor: bob.key, userID: ann.user.id)
                                }
                            }
                            Issue.record("round \(round) should have been refused")
                        } catch is CancellationError {
                            throw CancellationError()
                        } catch {
                            refusals.withLock { $0 += 1 }
                        }
                    }
                }
                try await tasks.waitForAll()
            }
            #expect(refusals.value == 40)

            let conversation = try await store.conversation(id: group.id, viewer: ann.key)
            #expect(conversation.lastSeq == 160)
            #expect(conversation.members.keys == [ann.key, bob.key])
            #expect(conversation.owner == ann.user)
            #expect(try await store.allMessages(of: group.id, viewer: ann.key).map(\.seq) == Array(1...160))
            #expect(try await store.account(handleKey: "ann") == ann)

            try await fixture.restart()
            #expect(try await fixture.store.conversation(id: group.id, viewer: bob.key) == conversation)
            #expect(try await fixture.store.send("next", to: group.id, from: ann).message.seq == 161)
        }
    }

    @Test("close() waits for queued appends: every completion has been called, and the data is there after reopening", arguments: StoreFactory.all)
    func closeWaitsForQueuedAppends(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let people = try await fixture.store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let first = try await fixture.store.makeGroup(ann, [bob], title: "first")
            let second = try await fixture.store.openDirect(between: ann, andUserID: bob.user.id).conversation

            let recorder = CompletionRecorder()
            let total = 400
            do {
                let store = fixture.store
                for index in 0..<total {
                    recorder.submit(store, AppendRequest(
                        conversationID: index.isMultiple(of: 2) ? first.id : second.id,
                        sender: index % 3 == 0 ? ann : bob, text: "queued \(index)", clientID: "q\(index)"), tag: index)
                }
            }
            try await fixture.close()

            // No waiting here: close() itself must have waited.
            let entries = recorder.entries
            #expect(entries.count == total, "every completion was called before close() returned")
            let outcomes = (0..<total).compactMap { recorder.outcome(tag: $0) }
            #expect(outcomes.count == total, "queued before close, so all succeed")

            try await fixture.open()
            for conversation in [first, second] {
                let stored = try await fixture.store.allMessages(of: conversation.id, viewer: ann.key)
                #expect(stored.map(\.seq) == Array(1...Int64(total / 2)))
                #expect(stored == outcomes.map(\.message).filter { $0.conversationID == conversation.id }.sorted { $0.seq < $1.seq })
            }
        }
    }

    @Test("an append after close() is refused promptly, not left hanging", arguments: StoreFactory.all)
    func appendAfterClose(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let group = try await store.makeGroup(people[0], [people[1]])
            try await fixture.close()

            let recorder = CompletionRecorder()
            recorder.submit(store, AppendRequest(conversationID: group.id, sender: people[0], text: "late", clientID: "late"), tag: 0)
            try await recorder.waitForCompletions(1)
            guard case .failure = recorder.result(tag: 0) else {
                Issue.record("an append after close() must fail")
                return
            }
        }
    }
}
