import Foundation
import ParleyCore
import ParleyStore
import Testing

/// The store's side of the event seam: what it commits is published to its
/// broker, once, after the caller heard, and in commit order per conversation.
@Suite("Event publication", .timeLimit(.minutes(1)))
struct EventPublicationTests {
    @Test("each committed change is published once, with the people who hear of it; refusals and no-ops publish nothing", arguments: StoreFactory.all)
    func published(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "dan")
            let ann = people[0], bob = people[1], cat = people[2], dan = people[3]
            let group = try await store.makeGroup(ann, [bob])
            _ = try await store.addMember(conversationID: group.id, actor: ann.key, userID: cat.user.id)
            let request = AppendRequest(conversationID: group.id, sender: bob, text: "hi", clientID: "c1", origin: "session-1")
            let sent = try await store.append(request)
            _ = try await store.append(request)  // a retry: the original, no new event
            await expectConversationNotFound { _ = try await store.send("not a member", to: group.id, from: dan) }
            _ = try await store.markRead(conversationID: group.id, reader: cat, seq: 1, origin: "session-2")
            _ = try await store.markRead(conversationID: group.id, reader: cat, seq: 1, origin: "session-2")  // did not move
            await store.flushEvents(fixture)

            let events = fixture.changes.events
            #expect(events.count == 4, "\(events)")
            guard events.count == 4 else { return }
            guard case .conversationCreated(let created) = events[0] else { Issue.record("unexpected \(events[0])"); return }
            #expect(created.id == group.id)
            guard case .membershipChanged(let added) = events[1] else { Issue.record("unexpected \(events[1])"); return }
            #expect(added.kind == .added && added.subject == cat)
            guard case .messageStored(let message, let sender, let recipients, let blockedBy, let origin) = events[2] else {
                Issue.record("unexpected \(events[2])"); return
            }
            #expect(message == sent.message && sender == bob.key && origin == "session-1")
            #expect(Set(recipients) == [ann.key, bob.key, cat.key] && blockedBy.isEmpty)
            guard case .readMarkMoved(let mark, let reader, let receiptRecipients, let readOrigin) = events[3] else {
                Issue.record("unexpected \(events[3])"); return
            }
            #expect(mark == ReadMark(conversationID: group.id, lastSeq: 1, readSeq: 1))
            #expect(reader == cat && readOrigin == "session-2" && Set(receiptRecipients) == [ann.key, bob.key])
        }
    }

    @Test("the events of each conversation come in seq order, each after its sender's completion, while conversations commit together", arguments: StoreFactory.all)
    func orderPerConversation(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            var groups: [Conversation] = []
            for index in 0..<4 { groups.append(try await store.makeGroup(ann, [bob], title: "g\(index)")) }
            let recorder = fixture.changes
            let perConversation = 50
            let early = Locked(0)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for sender in [ann, bob] {
                    for group in groups {
                        tasks.addTask {
                            for index in 0..<perConversation / 2 {
                                let request = AppendRequest(
                                    conversationID: group.id, sender: sender, text: "m", clientID: "\(sender.user.handle)-\(index)")
                                _ = try await withCheckedThrowingContinuation { continuation in
                                    store.append(request) { result in
                                        // The sender hears before anyone else does.
                                        if case .success(let outcome) = result, recorder.events.contains(where: { event in
                                            if case .messageStored(let stored, _, _, _, _) = event { return stored.id == outcome.message.id }
                                            return false
                                        }) {
                                            early.withLock { $0 += 1 }
                                        }
                                        continuation.resume(with: result)
                                    }
                                }
                            }
                        }
                    }
                }
                try await tasks.waitForAll()
            }
            await store.flushEvents(fixture)
            #expect(early.value == 0, "events published before their completion")
            var seqs: [String: [Int64]] = [:]
            for case .messageStored(let message, _, _, _, _) in recorder.events {
                seqs[message.conversationID, default: []].append(message.seq)
            }
            for group in groups {
                #expect(seqs[group.id] == Array(1...Int64(perConversation)), "conversation \(group.title ?? "")")
            }
        }
    }
}

extension ChatStore {
    /// Waits until what the store committed so far has been published: a
    /// restart closes the store, which waits for its reports.
    func flushEvents(_ fixture: StoreFixture) async {
        _ = try? await fixture.restart()
    }
}
