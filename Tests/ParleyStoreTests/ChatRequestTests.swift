import ParleyCore
import ParleyStore
import Testing

/// Chat requests in the store (docs/PROTOCOL.md, "Chat requests"): who is
/// brought in as a request, what accepting, declining and writing change,
/// and what a request keeps from the others.
@Suite("Chat requests", .timeLimit(.minutes(1)))
struct ChatRequestTests {
    static var requestsOn: ChatLimits {
        var limits = ChatLimits()
        limits.chatRequests = true
        return limits
    }

    @Test("off: everyone is accepted, as in v1", arguments: StoreFactory.all)
    func off(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let (ann, bob, cat) = (people[0], people[1], people[2])
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            let group = try await store.makeGroup(ann, [cat])
            #expect(direct.members.allSatisfy { $0.standing == .accepted })
            #expect(group.members.allSatisfy { $0.standing == .accepted })
            #expect(try await store.readMarks(of: bob.key).allSatisfy { !$0.isRequest })
        }
    }

    @Test("on: a stranger's direct conversation or group is a request for the one brought in; people who share an accepted one are not strangers", arguments: StoreFactory.all)
    func whoIsARequest(_ factory: StoreFactory) async throws {
        try await withFixture(factory, limits: Self.requestsOn) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "dan")
            let (ann, bob, cat, dan) = (people[0], people[1], people[2], people[3])
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            #expect(direct.standing(of: ann.key) == .accepted)
            #expect(direct.standing(of: bob.key) == .request)
            #expect(try await store.readMarks(of: bob.key).map(\.isRequest) == [true])
            #expect(try await store.readMarks(of: ann.key).map(\.isRequest) == [false])

            let group = try await store.makeGroup(cat, [bob, dan])
            #expect(group.members.map(\.standing) == [.accepted, .request, .request])

            // Bob accepts Ann's conversation: Ann is no stranger to him now.
            let accepted = try await store.accept(conversationID: direct.id, member: bob)
            #expect(accepted.kind == .accepted && accepted.conversation.standing(of: bob.key) == .accepted)
            #expect(try await store.accept(conversationID: direct.id, member: bob).kind == .unchanged)
            let second = try await store.makeGroup(ann, [bob, cat])
            #expect(second.standing(of: bob.key) == .accepted, "Bob accepted a conversation with Ann")
            #expect(second.standing(of: cat.key) == .request, "Cat never accepted anything with Ann")
            // Adding later follows the same rule.
            let third = try await store.makeGroup(dan, [])
            let added = try await store.addMember(conversationID: third.id, actor: dan.key, userID: ann.user.id)
            #expect(added.conversation.standing(of: ann.key) == .request)
        }
    }

    @Test("a request keeps the member's receipts and typing from the others; accepting lets them through", arguments: StoreFactory.all)
    func requestKeepsBack(_ factory: StoreFactory) async throws {
        try await withFixture(factory, limits: Self.requestsOn) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let (ann, bob) = (people[0], people[1])
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            try await store.send("hi", to: direct.id, from: ann)
            #expect(try await store.typingRecipients(conversationID: direct.id, typer: bob.key) == [])
            #expect(try await store.typingRecipients(conversationID: direct.id, typer: ann.key) == [bob.key])
            _ = try await store.markRead(conversationID: direct.id, reader: bob, seq: 1)
            // Bob's presence is not Ann's to see through it; Ann's is Bob's.
            #expect(try await store.contacts(of: bob.key) == [])
            #expect(try await store.contacts(of: ann.key) == [bob.key])
            #expect(try await store.presence(of: [bob.user.id], viewer: ann.key).first?.visible == false)

            _ = try await store.accept(conversationID: direct.id, member: bob)
            #expect(try await store.typingRecipients(conversationID: direct.id, typer: bob.key) == [ann.key])
            try await store.send("again", to: direct.id, from: ann)
            _ = try await store.markRead(conversationID: direct.id, reader: bob, seq: 2)
            #expect(try await store.contacts(of: bob.key) == [ann.key])
            #expect(try await store.presence(of: [bob.user.id], viewer: ann.key).first?.visible == true)

            let receipts = fixture.changes.events.compactMap { event -> [UserKey]? in
                guard case .readMarkMoved(_, let reader, let recipients, _) = event, reader == bob else { return nil }
                return recipients
            }
            #expect(receipts == [[], [ann.key]], "no receipt while a request, then Ann's")
        }
    }

    @Test("writing into a request accepts it, in the same commit, announced before the message", arguments: StoreFactory.all)
    func sendingAccepts(_ factory: StoreFactory) async throws {
        try await withFixture(factory, limits: Self.requestsOn) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let (ann, bob) = (people[0], people[1])
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            try await store.send("hello?", to: direct.id, from: ann)
            let reply = try await store.send("hello!", to: direct.id, from: bob)
            #expect(reply.message.seq == 2)
            let now = try await store.conversation(id: direct.id, viewer: bob.key)
            #expect(now.standing(of: bob.key) == .accepted)
            #expect(now.unread(of: bob.key) == 0)
            let tail = fixture.changes.events.suffix(2)
            guard case .membershipChanged(let change) = tail.first, case .messageStored(let message, _, _, _, _) = tail.last else {
                Issue.record("expected the acceptance, then the message: \(tail)"); return
            }
            #expect(change.kind == .accepted && change.subject == bob && message.seq == 2)
            #expect(change.conversation.lastSeq == 2, "the announced conversation has the message in it")
            try await fixture.restart()
            #expect(try await fixture.store.conversation(id: direct.id, viewer: bob.key).standing(of: bob.key) == .accepted, "durable")
        }
    }

    @Test("declining a direct conversation hides it from the decliner, who hears nothing of it, until they open it again", arguments: StoreFactory.all)
    func declineDirect(_ factory: StoreFactory) async throws {
        try await withFixture(factory, limits: Self.requestsOn) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let (ann, bob) = (people[0], people[1])
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            let declined = try await store.decline(conversationID: direct.id, member: bob)
            #expect(declined.kind == .declined)
            #expect(try await store.readMarks(of: bob.key).isEmpty)
            #expect(try await store.conversations(of: bob.key, limit: 10, after: nil).conversations.isEmpty)
            await expectConversationNotFound { try await store.conversation(id: direct.id, viewer: bob.key) }
            await expectConversationNotFound {
                try await store.history(conversationID: direct.id, viewer: bob.key, window: .latest, limit: 10)
            }
            await expectConversationNotFound { try await store.decline(conversationID: direct.id, member: bob) }
            await expectConversationNotFound { try await store.send("x", to: direct.id, from: bob) }

            // Ann still writes; Bob is not among the recipients.
            let sent = try await store.send("are you there?", to: direct.id, from: ann)
            #expect(sent.recipients == [ann.key])
            #expect(try await store.typingRecipients(conversationID: direct.id, typer: ann.key) == [])
            // Opening it again brings it back, accepted, with what was written.
            let (reopened, created) = try await store.openDirect(between: bob, andUserID: ann.user.id)
            #expect(!created && reopened.id == direct.id && reopened.standing(of: bob.key) == .accepted)
            #expect(try await store.history(conversationID: direct.id, viewer: bob.key, window: .latest, limit: 10).messages.count == 1)
            #expect(fixture.changes.all.suffix(2) == [
                .declined(conversation: direct.id, user: bob.user.id), .accepted(conversation: direct.id, user: bob.user.id),
            ])
        }
    }

    @Test("a message after 30 days brings a declined conversation back as a request; one before does not", arguments: StoreFactory.all)
    func quietPeriod(_ factory: StoreFactory) async throws {
        try await withFixture(factory, limits: Self.requestsOn) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let (ann, bob) = (people[0], people[1])
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            _ = try await store.decline(conversationID: direct.id, member: bob)
            fixture.clock.advance(by: ChatRequestPolicy.quietPeriod - 1)
            #expect(try await store.send("one", to: direct.id, from: ann).recipients == [ann.key])
            #expect(try await store.readMarks(of: bob.key).isEmpty)
            // A restart in between: the decline's time is durable.
            try await fixture.restart()
            fixture.clock.advance(by: 1)
            let back = try await fixture.store.send("two", to: direct.id, from: ann)
            #expect(Set(back.recipients) == [ann.key, bob.key])
            let marks = try await fixture.store.readMarks(of: bob.key)
            #expect(marks.map(\.isRequest) == [true] && marks.first?.unread == 2)
            #expect(fixture.changes.all.last == .reopened(conversation: direct.id, user: bob.user.id))
        }
    }

    @Test("declining a group is leaving it", arguments: StoreFactory.all)
    func declineGroup(_ factory: StoreFactory) async throws {
        try await withFixture(factory, limits: Self.requestsOn) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let group = try await store.makeGroup(people[0], [people[1], people[2]])
            let change = try await store.decline(conversationID: group.id, member: people[1])
            #expect(change.kind == .removed && !change.conversation.isMember(people[1].key))
            await expectConversationNotFound { try await store.conversation(id: group.id, viewer: people[1].key) }
        }
    }
}
