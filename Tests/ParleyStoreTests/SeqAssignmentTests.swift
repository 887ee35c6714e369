import Foundation
import ParleyCore
import ParleyStore
import Testing

/// Seqs are per conversation 1, 2, 3 … with no gap and no repeat, however
/// many appends race; the group-commit writer must not lose or reorder any.
@Suite("Seq assignment and group commit", .timeLimit(.minutes(1)))
struct SeqAssignmentTests {
    @Test("20 tasks × 50 concurrent appends into one conversation get seqs exactly 1...1000", arguments: StoreFactory.all)
    func concurrentAppendsIntoOneConversation(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let owner = try await store.makeAccount("owner")
            let others = try await store.makeAccounts("mem1", "mem2", "mem3", "mem4")
            let conversation = try await store.makeGroup(owner, others)
            let senders = [owner] + others
            let tasks = 20
            let perTask = 50
            let total = tasks * perTask

            let outcomes = try await withThrowingTaskGroup(of: [AppendOutcome].self) { group in
                for task in 0..<tasks {
                    let sender = senders[task % senders.count]
                    group.addTask {
                        var sent: [AppendOutcome] = []
                        for index in 0..<perTask {
                            sent.append(try await store.send(
                                "task \(task) message \(index)", to: conversation.id, from: sender,
                                clientID: "t\(task)-\(index)"))
                        }
                        // One task's appends are sequential, so their seqs increase.
                        #expect(sent.map(\.message.seq) == sent.map(\.message.seq).sorted())
                        return sent
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }

            #expect(outcomes.count == total)
            #expect(outcomes.allSatisfy { !$0.duplicate })
            #expect(outcomes.map(\.message.seq).sorted() == Array(1...Int64(total)))
            #expect(Set(outcomes.map(\.message.id)).count == total, "every message has its own id")

            let stored = try await store.allMessages(of: conversation.id, viewer: owner.key)
            #expect(stored.map(\.seq) == Array(1...Int64(total)))
            #expect(stored == outcomes.map(\.message).sorted { $0.seq < $1.seq },
                    "history holds exactly the acknowledged messages, each once")
            let expectedClientIDs = Set((0..<tasks).flatMap { task in (0..<perTask).map { "t\(task)-\($0)" } })
            #expect(Set(stored.map(\.clientID)) == expectedClientIDs)

            let after = try await store.conversation(id: conversation.id, viewer: owner.key)
            #expect(after.lastSeq == Int64(total))
            #expect(after.lastMessage == stored.last)
        }
    }

    @Test("concurrent appends into several conversations at once: each conversation counts 1...N on its own", arguments: StoreFactory.all)
    func concurrentAppendsIntoSeveralConversations(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "dan")
            var conversations: [Conversation] = []
            for index in 0..<4 {
                conversations.append(try await store.makeGroup(people[index], people.filter { $0 != people[index] }, title: "g\(index)"))
            }
            conversations.append(try await store.openDirect(between: people[0], andUserID: people[1].user.id).conversation)
            conversations.append(try await store.openDirect(between: people[2], andUserID: people[3].user.id).conversation)

            let tasksPerConversation = 6
            let perTask = 20
            let snapshot = conversations
            let outcomes = try await withThrowingTaskGroup(of: [AppendOutcome].self) { group in
                for (conversationIndex, conversation) in snapshot.enumerated() {
                    let members = conversation.members.map(\.account)
                    for task in 0..<tasksPerConversation {
                        let sender = members[task % members.count]
                        group.addTask {
                            var sent: [AppendOutcome] = []
                            for index in 0..<perTask {
                                sent.append(try await store.send(
                                    "c\(conversationIndex) t\(task) m\(index)", to: conversation.id, from: sender))
                            }
                            return sent
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }

            let perConversation = Int64(tasksPerConversation * perTask)
            for conversation in conversations {
                let mine = outcomes.filter { $0.message.conversationID == conversation.id }
                #expect(mine.map(\.message.seq).sorted() == Array(1...perConversation))
                let viewer = conversation.members[0].account.key
                let stored = try await store.allMessages(of: conversation.id, viewer: viewer)
                #expect(stored.map(\.seq) == Array(1...perConversation))
                #expect(stored == mine.map(\.message).sorted { $0.seq < $1.seq })
                #expect(stored.allSatisfy { $0.conversationID == conversation.id })
                #expect(try await store.conversation(id: conversation.id, viewer: viewer).lastSeq == perConversation)
            }
        }
    }

    /// Submitting without waiting queues many appends at once: they are
    /// committed in batches. Nothing is timed; what must hold is that every
    /// completion is called once, with exact seqs, and that one conversation's
    /// completions come in seq order (the protocol's promise).
    @Test("a burst of appends submitted without waiting all complete, once each, in seq order per conversation", arguments: StoreFactory.all)
    func burstOfQueuedAppends(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let first = try await store.makeGroup(ann, [bob], title: "first")
            let second = try await store.makeGroup(bob, [ann], title: "second")
            let third = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            let targets = [first, second, third]

            let recorder = CompletionRecorder()
            let total = 1500
            for index in 0..<total {
                let sender = index.isMultiple(of: 2) ? ann : bob
                recorder.submit(store, AppendRequest(
                    conversationID: targets[index % 3].id, sender: sender, text: "burst \(index)", clientID: "b\(index)"),
                    tag: index)
            }
            try await recorder.waitForCompletions(total)

            let entries = recorder.entries
            #expect(entries.count == total)
            #expect(Set(entries.map(\.tag)).count == total, "each completion is called exactly once")
            for conversation in targets {
                let seqsInCompletionOrder = entries.compactMap { entry -> Int64? in
                    guard case .success(let outcome) = entry.result, outcome.message.conversationID == conversation.id
                    else { return nil }
                    return outcome.message.seq
                }
                #expect(seqsInCompletionOrder == Array(1...Int64(total / 3)))
                let stored = try await store.allMessages(of: conversation.id, viewer: ann.key)
                #expect(stored.map(\.seq) == Array(1...Int64(total / 3)))
                let texts = Set(stride(from: targets.firstIndex(of: conversation)!, to: total, by: 3).map { "burst \($0)" })
                #expect(Set(stored.map(\.text)) == texts)
            }
            #expect(entries.allSatisfy { if case .success(let outcome) = $0.result { !outcome.duplicate } else { false } })
        }
    }
}
