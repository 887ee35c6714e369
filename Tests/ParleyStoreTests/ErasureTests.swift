import ParleyCore
import ParleyStore
import Testing

/// A moderator's delete and an erased account: text gone, seqs kept, and
/// the account no one to find. (`flushEvents` restarts the store: always
/// `fixture.store`.)
@Suite("Deleted messages and erased accounts", .timeLimit(.minutes(1)))
struct ErasureTests {
    @Test("a deleted message keeps its seq, loses its text, is published once, and a retry of its client_id gets it as it is now", arguments: StoreFactory.all)
    func deleteMessage(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let people = try await fixture.store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let group = try await fixture.store.makeGroup(ann, [bob])
            _ = try await fixture.store.send("first", to: group.id, from: ann)
            _ = try await fixture.store.send("rude", to: group.id, from: bob, clientID: "b-1")
            _ = try await fixture.store.send("third", to: group.id, from: ann)
            await fixture.store.flushEvents(fixture)
            let before = fixture.changes.events.count

            let deleted = try await fixture.store.deleteMessage(conversationID: group.id, seq: 2, by: nil)
            #expect(deleted.deleted && deleted.text == "" && deleted.seq == 2 && deleted.sender == bob.user)
            #expect(try await fixture.store.deleteMessage(conversationID: group.id, seq: 2, by: nil) == deleted, "again: the same, nothing new")
            await fixture.store.flushEvents(fixture)
            let events = Array(fixture.changes.events.dropFirst(before))
            #expect(events == [.messagesUpdated([deleted], recipients: [ann.key, bob.key])], "\(events)")

            let page = try await fixture.store.history(conversationID: group.id, viewer: ann.key, window: .after(0), limit: 10)
            #expect(page.messages.map(\.seq) == [1, 2, 3])
            #expect(page.messages.map(\.text) == ["first", "", "third"])
            #expect(page.messages.map(\.deleted) == [false, true, false])
            let retry = try await fixture.store.append(AppendRequest(conversationID: group.id, sender: bob, text: "rude", clientID: "b-1", origin: nil))
            #expect(retry.duplicate && retry.message.deleted && retry.message.text == "")

            await expectChatError(.notFound, "unknown seq") { _ = try await fixture.store.deleteMessage(conversationID: group.id, seq: 9, by: nil) }
            await expectChatError(.notFound, "unknown conversation") {
                _ = try await fixture.store.deleteMessage(conversationID: UnknownIDs.wellFormed, seq: 1, by: nil)
            }
        }
    }

    @Test("an erased account: its messages' text removed everywhere, its tokens revoked, no one finds it, its handle and external id free again", arguments: StoreFactory.all)
    func eraseAccount(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let ann = try await fixture.store.makeAccount("ann")
            let (gone, _) = try await fixture.store.provisionAccount(
                ExternalAccount(externalID: "prod-7", handles: [("Gone", "gone")], displayName: "Gone Person"))
            let group = try await fixture.store.makeGroup(ann, [gone])
            let (direct, _) = try await fixture.store.openDirect(between: gone, andUserID: ann.user.id)
            _ = try await fixture.store.send("hello", to: group.id, from: gone)
            _ = try await fixture.store.send("hi", to: group.id, from: ann)
            _ = try await fixture.store.send("psst", to: direct.id, from: gone)
            try await fixture.store.recordToken(TokenRecord(id: "gone-token", user: gone.key, issuedTS: 0, expiresTS: fixture.clock.now + 60_000))
            await fixture.store.flushEvents(fixture)
            let before = fixture.changes.events.count

            #expect(try await fixture.store.eraseAccount(gone.key))
            #expect(try await fixture.store.eraseAccount(gone.key) == false, "once")
            await fixture.store.flushEvents(fixture)
            let events = Array(fixture.changes.events.dropFirst(before))
            #expect(events.first == .userErased(gone.key), "\(events)")
            var updated: [String: [Int64]] = [:]
            for case .messagesUpdated(let messages, let recipients) in events {
                #expect(Set(recipients) == [ann.key, gone.key])
                for message in messages {
                    #expect(message.deleted && message.text == "" && message.sender.displayName == "Deleted user")
                    updated[message.conversationID, default: []].append(message.seq)
                }
            }
            #expect(updated == [group.id: [1], direct.id: [1]], "the live updates name each deleted message")

            let page = try await fixture.store.history(conversationID: group.id, viewer: ann.key, window: .after(0), limit: 10)
            #expect(page.messages.map(\.text) == ["", "hi"])
            #expect(page.messages.map(\.deleted) == [true, false])
            #expect(page.messages[0].sender.id == gone.user.id && page.messages[0].sender.handle == "deleted")
            #expect(try await fixture.store.account(id: gone.user.id) == nil)
            #expect(try await fixture.store.account(externalID: "prod-7") == nil)
            #expect(try await fixture.store.credentials(handleKey: "gone") == nil)
            #expect(try await fixture.store.searchUsers(prefix: "gone", limit: 20).isEmpty)
            #expect(try await fixture.store.searchUsers(prefix: "deleted", limit: 20).isEmpty)
            #expect(try await fixture.store.revokedTokenIDs().contains("gone-token"))
            await expectChatError(.notFound, "adding an erased user") {
                _ = try await fixture.store.addMember(conversationID: group.id, actor: ann.key, userID: gone.user.id)
            }
            // The handle and the external id are free: a new, different user.
            let (again, created) = try await fixture.store.provisionAccount(
                ExternalAccount(externalID: "prod-7", handles: [("gone", "gone")], displayName: nil))
            #expect(created && again.key != gone.key && again.user.handle == "gone")
        }
    }
}
