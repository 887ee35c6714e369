import Foundation
import ParleyCore
import ParleyStore
import Testing

@Suite("Conversation changes", .timeLimit(.minutes(1)))
struct ConversationChangeTests {
    @Test("creations and membership changes are reported once each, with the conversation as it is after", arguments: StoreFactory.all)
    func reported(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            _ = try await store.openDirect(between: bob, andUserID: ann.user.id)
            let group = try await store.makeGroup(ann, [bob])
            _ = try await store.addMember(conversationID: group.id, actor: ann.key, userID: cat.user.id)
            _ = try await store.addMember(conversationID: group.id, actor: ann.key, userID: cat.user.id)
            _ = try await store.removeMember(conversationID: group.id, actor: ann.key, userID: bob.user.id)
            await expectChatError(.forbidden) {
                _ = try await store.addMember(conversationID: group.id, actor: cat.key, userID: bob.user.id)
            }
            #expect(fixture.changes.all == [
                .created(direct.id),  // opened again: not reported twice
                .created(group.id),
                .added(conversation: group.id, user: cat.user.id),  // added twice: reported once
                .removed(conversation: group.id, user: bob.user.id),
                // refused: not reported
            ])
            guard case .membershipChanged(let removal) = fixture.changes.reported.last else {
                Issue.record("expected a membership change last")
                return
            }
            #expect(removal.conversation.members.map(\.account) == [ann, cat])
            #expect(removal.subject == bob)
        }
    }

    @Test("a member added hears of it before any message committed after; changes and messages interleave in commit order", arguments: StoreFactory.all)
    func commitOrder(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]
            let group = try await store.makeGroup(ann, [bob])
            let changes = fixture.changes
            // Submitted together, so that they share batches; each completion
            // is recorded where it runs (in commit order for its conversation), in
            // the same sequence as the changes.
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    _ = try await store.addMember(conversationID: group.id, actor: ann.key, userID: cat.user.id)
                }
                for index in 0..<20 {
                    let request = AppendRequest(conversationID: group.id, sender: bob, text: "m\(index)", clientID: "c\(index)")
                    tasks.addTask {
                        _ = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<AppendOutcome, any Error>) in
                            store.append(request) { result in
                                if case .success(let outcome) = result {
                                    // Cat receives exactly the messages committed after the addition.
                                    let catHeard = changes.all.contains(.added(conversation: group.id, user: cat.user.id))
                                    #expect(outcome.recipients.contains(cat.key) == catHeard)
                                    changes.record(.message(group.id, seq: outcome.message.seq))
                                }
                                continuation.resume(with: result)
                            }
                        }
                    }
                }
                try await tasks.waitForAll()
            }
            let entries = changes.all.filter { if case .created = $0 { false } else { true } }
            let seqs = entries.compactMap { if case .message(_, let seq) = $0 { seq } else { nil } }
            #expect(seqs == Array(1...20), "messages complete in seq order")
            #expect(entries.count == 21)
        }
    }
}
