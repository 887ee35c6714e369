import Foundation
import ParleyCore
import ParleyStore
import Testing

/// Who may see and write a conversation, and who may change who is in it.
@Suite("Membership rules", .timeLimit(.minutes(1)))
struct MembershipTests {
    @Test("an outsider, an unknown id and a malformed id all get conversationNotFound, for every operation", arguments: StoreFactory.all)
    func outsidersGetNotFound(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "eve")
            let ann = people[0], bob = people[1], eve = people[2]
            let group = try await store.makeGroup(ann, [bob])
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            try await store.send("secret", to: group.id, from: ann)
            try await store.send("secret", to: direct.id, from: bob)

            // Eve is in none of these; the last ids name nothing at all.
            let ids = [group.id, direct.id, UnknownIDs.wellFormed] + UnknownIDs.malformed
            for id in ids {
                let comment: Comment = "conversation id '\(id)'"
                await expectConversationNotFound(comment) {
                    _ = try await store.send("hi", to: id, from: eve)
                }
                await expectConversationNotFound(comment) {
                    _ = try await store.history(conversationID: id, viewer: eve.key, window: .latest, limit: 10)
                }
                await expectConversationNotFound(comment) {
                    _ = try await store.history(conversationID: id, viewer: eve.key, window: .after(0), limit: 10)
                }
                await expectConversationNotFound(comment) {
                    _ = try await store.markRead(conversationID: id, reader: eve, seq: 1)
                }
                await expectConversationNotFound(comment) {
                    _ = try await store.conversation(id: id, viewer: eve.key)
                }
                await expectConversationNotFound(comment) {
                    _ = try await store.addMember(conversationID: id, actor: eve.key, userID: eve.user.id)
                }
                await expectConversationNotFound(comment) {
                    _ = try await store.removeMember(conversationID: id, actor: eve.key, userID: ann.user.id)
                }
            }
            // Members of those conversations still get unknown and malformed ids refused the same way.
            for id in [UnknownIDs.wellFormed] + UnknownIDs.malformed {
                await expectConversationNotFound("conversation id '\(id)'") {
                    _ = try await store.send("hi", to: id, from: ann)
                }
                await expectConversationNotFound("conversation id '\(id)'") {
                    _ = try await store.conversation(id: id, viewer: ann.key)
                }
            }
            #expect(try await store.conversations(of: eve.key, limit: 10, after: nil).conversations.isEmpty)
            #expect(try await store.readMarks(of: eve.key).isEmpty)
            // Nothing the outsider tried was stored.
            #expect(try await store.conversation(id: group.id, viewer: ann.key).lastSeq == 1)
            #expect(try await store.conversation(id: group.id, viewer: ann.key).members.keys == [ann.key, bob.key])
        }
    }

    @Test("a removed member can no longer send, read, mark read or see the conversation", arguments: StoreFactory.all)
    func removedMemberLosesAccess(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]
            let group = try await store.makeGroup(ann, [bob, cat])
            try await store.send("before", to: group.id, from: bob)
            #expect(try await store.history(conversationID: group.id, viewer: bob.key, window: .latest, limit: 10).messages.count == 1)

            let change = try await store.removeMember(conversationID: group.id, actor: ann.key, userID: bob.user.id)
            #expect(change.kind == .removed)
            #expect(change.subject == bob)
            #expect(change.conversation.members.keys == [ann.key, cat.key])
            #expect(!change.conversation.isMember(bob.key))

            await expectConversationNotFound { _ = try await store.send("after", to: group.id, from: bob) }
            await expectConversationNotFound {
                _ = try await store.history(conversationID: group.id, viewer: bob.key, window: .latest, limit: 10)
            }
            await expectConversationNotFound { _ = try await store.markRead(conversationID: group.id, reader: bob, seq: 1) }
            await expectConversationNotFound { _ = try await store.conversation(id: group.id, viewer: bob.key) }
            #expect(try await store.conversations(of: bob.key, limit: 10, after: nil).conversations.isEmpty)
            #expect(try await store.readMarks(of: bob.key).isEmpty)

            // The others carry on.
            let next = try await store.send("carry on", to: group.id, from: cat)
            #expect(next.message.seq == 2)
            #expect(Set(next.recipients) == [ann.key, cat.key])
        }
    }

    @Test("a member who leaves is refused too, and the message they sent stays", arguments: StoreFactory.all)
    func memberLeaves(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let group = try await store.makeGroup(ann, [bob])
            let sent = try await store.send("bye", to: group.id, from: bob)

            let change = try await store.removeMember(conversationID: group.id, actor: bob.key, userID: bob.user.id)
            #expect(change.kind == .removed)
            #expect(change.conversation.members.keys == [ann.key])
            await expectConversationNotFound { _ = try await store.send("again", to: group.id, from: bob) }
            #expect(try await store.allMessages(of: group.id, viewer: ann.key) == [sent.message])
        }
    }

    @Test("an added member can send, reads the earlier history, and starts with nothing unread", arguments: StoreFactory.all)
    func addedMember(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "dan")
            let ann = people[0], bob = people[1], dan = people[2]
            let group = try await store.makeGroup(ann, [bob])
            for index in 1...3 { try await store.send("early \(index)", to: group.id, from: bob) }

            await expectConversationNotFound { _ = try await store.send("let me in", to: group.id, from: dan) }

            let change = try await store.addMember(conversationID: group.id, actor: ann.key, userID: dan.user.id)
            #expect(change.kind == .added)
            #expect(change.subject == dan)
            #expect(change.conversation.members.keys == [ann.key, bob.key, dan.key])
            #expect(change.conversation.readSeq(of: dan.key) == 3, "read_seq starts at last_seq at join")
            #expect(change.conversation.unread(of: dan.key) == 0)

            let seen = try await store.conversation(id: group.id, viewer: dan.key)
            #expect(seen.readSeq(of: dan.key) == 3)
            #expect(seen.unread(of: dan.key) == 0)
            #expect(seen.unread(of: ann.key) == 3, "others' marks are untouched")
            #expect(try await store.readMarks(of: dan.key) == [ReadMark(conversationID: group.id, lastSeq: 3, readSeq: 3)])
            #expect(try await store.history(conversationID: group.id, viewer: dan.key, window: .latest, limit: 10).messages.map(\.seq) == [1, 2, 3])

            let sent = try await store.send("hello all", to: group.id, from: dan)
            #expect(sent.message.seq == 4)
            #expect(Set(sent.recipients) == [ann.key, bob.key, dan.key])

            try await store.send("welcome", to: group.id, from: bob)
            let later = try await store.conversation(id: group.id, viewer: dan.key)
            #expect(later.unread(of: dan.key) == 1)
        }
    }

    @Test("recipients of an append are exactly the members at that moment", arguments: StoreFactory.all)
    func recipientsFollowMembership(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "dan")
            let ann = people[0], bob = people[1], cat = people[2], dan = people[3]
            let group = try await store.makeGroup(ann, [bob, cat])

            let first = try await store.send("1", to: group.id, from: bob)
            #expect(first.recipients.sorted() == [ann.key, bob.key, cat.key].sorted())

            _ = try await store.removeMember(conversationID: group.id, actor: ann.key, userID: cat.user.id)
            let second = try await store.send("2", to: group.id, from: bob)
            #expect(second.recipients.sorted() == [ann.key, bob.key].sorted())

            _ = try await store.addMember(conversationID: group.id, actor: ann.key, userID: dan.user.id)
            let third = try await store.send("3", to: group.id, from: ann)
            #expect(third.recipients.sorted() == [ann.key, bob.key, dan.key].sorted())

            _ = try await store.addMember(conversationID: group.id, actor: ann.key, userID: cat.user.id)
            let fourth = try await store.send("4", to: group.id, from: cat)
            #expect(fourth.recipients.sorted() == [ann.key, bob.key, cat.key, dan.key].sorted())

            let direct = try await store.openDirect(between: ann, andUserID: dan.user.id).conversation
            let inDirect = try await store.send("hi", to: direct.id, from: dan)
            #expect(inDirect.recipients.sorted() == [ann.key, dan.key].sorted())
        }
    }

    @Test("when the owner leaves, the longest-standing member becomes owner", arguments: StoreFactory.all)
    func ownershipPassesByJoinOrder(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("own", "amy", "ben", "cal")
            let owner = people[0], amy = people[1], ben = people[2], cal = people[3]
            let group = try await store.makeGroup(owner, [amy, ben])
            #expect(group.owner == owner.user)
            #expect(group.members.keys == [owner.key, amy.key, ben.key])

            // Amy leaves and comes back: she is now the newest member.
            _ = try await store.removeMember(conversationID: group.id, actor: owner.key, userID: amy.user.id)
            _ = try await store.addMember(conversationID: group.id, actor: owner.key, userID: amy.user.id)
            _ = try await store.addMember(conversationID: group.id, actor: owner.key, userID: cal.user.id)
            #expect(try await store.conversation(id: group.id, viewer: ben.key).members.keys == [owner.key, ben.key, amy.key, cal.key])

            let left = try await store.removeMember(conversationID: group.id, actor: owner.key, userID: owner.user.id)
            #expect(left.kind == .removed)
            #expect(left.conversation.owner == ben.user, "Ben has been in the group longest")
            #expect(left.conversation.members.keys == [ben.key, amy.key, cal.key])
            #expect(try await store.conversation(id: group.id, viewer: amy.key).owner == ben.user)

            // The new owner really can manage the group; the others still cannot.
            await expectChatError(.forbidden) {
                _ = try await store.removeMember(conversationID: group.id, actor: amy.key, userID: cal.user.id)
            }
            let removed = try await store.removeMember(conversationID: group.id, actor: ben.key, userID: cal.user.id)
            #expect(removed.conversation.members.keys == [ben.key, amy.key])
            let readded = try await store.addMember(conversationID: group.id, actor: ben.key, userID: owner.user.id)
            #expect(readded.kind == .added)
            #expect(readded.conversation.owner == ben.user, "a former owner coming back is not owner again")

            // Ben leaves: Amy is next in line (the returning former owner joined after her).
            let benLeft = try await store.removeMember(conversationID: group.id, actor: ben.key, userID: ben.user.id)
            #expect(benLeft.conversation.owner == amy.user)
        }
    }

    @Test("a non-owner cannot add or remove others, but can remove themself", arguments: StoreFactory.all)
    func nonOwnerPermissions(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("own", "amy", "ben", "dan")
            let owner = people[0], amy = people[1], ben = people[2], dan = people[3]
            let group = try await store.makeGroup(owner, [amy, ben])

            await expectChatError(.forbidden) {
                _ = try await store.addMember(conversationID: group.id, actor: amy.key, userID: dan.user.id)
            }
            await expectChatError(.forbidden) {
                _ = try await store.removeMember(conversationID: group.id, actor: amy.key, userID: ben.user.id)
            }
            await expectChatError(.forbidden) {
                _ = try await store.removeMember(conversationID: group.id, actor: amy.key, userID: owner.user.id)
            }
            let unchanged = try await store.conversation(id: group.id, viewer: owner.key)
            #expect(unchanged.members.keys == [owner.key, amy.key, ben.key])
            #expect(unchanged.owner == owner.user)

            let left = try await store.removeMember(conversationID: group.id, actor: amy.key, userID: amy.user.id)
            #expect(left.kind == .removed)
            #expect(left.subject == amy)
            #expect(left.conversation.members.keys == [owner.key, ben.key])
            #expect(left.conversation.owner == owner.user, "a member leaving does not change the owner")
        }
    }

    @Test("adding an existing member is .unchanged and changes nothing", arguments: StoreFactory.all)
    func addingExistingMember(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("own", "amy")
            let owner = people[0], amy = people[1]
            let group = try await store.makeGroup(owner, [amy])
            try await store.send("one", to: group.id, from: owner)
            let before = try await store.conversation(id: group.id, viewer: owner.key)

            let again = try await store.addMember(conversationID: group.id, actor: owner.key, userID: amy.user.id)
            #expect(again.kind == .unchanged)
            #expect(again.subject == amy)
            #expect(again.conversation == before)

            let ownerAgain = try await store.addMember(conversationID: group.id, actor: owner.key, userID: owner.user.id)
            #expect(ownerAgain.kind == .unchanged)
            #expect(try await store.conversation(id: group.id, viewer: owner.key) == before)
        }
    }

    @Test("adding or removing an unknown user is not found", arguments: StoreFactory.all)
    func unknownSubjects(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("own", "amy", "zed")
            let owner = people[0], amy = people[1], zed = people[2]
            let group = try await store.makeGroup(owner, [amy])
            for id in [UnknownIDs.wellFormed] + UnknownIDs.malformed {
                await expectChatError(.notFound, "user id '\(id)'") {
                    _ = try await store.addMember(conversationID: group.id, actor: owner.key, userID: id)
                }
                await expectChatError(.notFound, "user id '\(id)'") {
                    _ = try await store.removeMember(conversationID: group.id, actor: owner.key, userID: id)
                }
            }
            // A real user who is not a member cannot be removed either.
            await expectChatError(.notFound) {
                _ = try await store.removeMember(conversationID: group.id, actor: owner.key, userID: zed.user.id)
            }
            #expect(try await store.conversation(id: group.id, viewer: owner.key).members.keys == [owner.key, amy.key])
        }
    }

    @Test("a direct conversation refuses every membership change", arguments: StoreFactory.all)
    func directRefusesMembershipChanges(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation

            await expectChatError(.forbidden) {
                _ = try await store.addMember(conversationID: direct.id, actor: ann.key, userID: cat.user.id)
            }
            await expectChatError(.forbidden) {
                _ = try await store.addMember(conversationID: direct.id, actor: bob.key, userID: cat.user.id)
            }
            await expectChatError(.forbidden) {
                _ = try await store.removeMember(conversationID: direct.id, actor: ann.key, userID: bob.user.id)
            }
            await expectChatError(.forbidden) {
                _ = try await store.removeMember(conversationID: direct.id, actor: bob.key, userID: bob.user.id)
            }
            let after = try await store.conversation(id: direct.id, viewer: ann.key)
            #expect(after.members.keys == [ann.key, bob.key])
            await expectConversationNotFound { _ = try await store.conversation(id: direct.id, viewer: cat.key) }
        }
    }

    @Test("a group with an unknown member id is not created", arguments: StoreFactory.all)
    func groupWithUnknownMember(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("own", "amy")
            let owner = people[0], amy = people[1]
            for id in [UnknownIDs.wellFormed] + UnknownIDs.malformed {
                await expectChatError(.notFound, "member id '\(id)'") {
                    _ = try await store.createGroup(owner: owner, title: "t", memberIDs: [amy.user.id, id])
                }
            }
            #expect(try await store.conversations(of: owner.key, limit: 10, after: nil).conversations.isEmpty,
                    "a refused group leaves nothing behind")
            #expect(try await store.conversations(of: amy.key, limit: 10, after: nil).conversations.isEmpty)
        }
    }

    @Test("a new group has its owner first, then the members in the order given, each once", arguments: StoreFactory.all)
    func newGroup(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("own", "amy", "ben")
            let owner = people[0], amy = people[1], ben = people[2]
            let group = try await store.createGroup(
                owner: owner, title: "Team", memberIDs: [ben.user.id, amy.user.id, ben.user.id, owner.user.id])
            #expect(group.kind == .group)
            #expect(group.title == "Team")
            #expect(group.owner == owner.user)
            #expect(group.members.keys == [owner.key, ben.key, amy.key])
            #expect(group.members.allSatisfy { $0.readSeq == 0 })
            #expect(group.lastSeq == 0)
            #expect(group.lastMessage == nil)
            #expect(group.createdTS == fixture.clock.now)
            #expect(OpaqueID.isWellFormed(group.id))
            #expect(try await store.conversation(id: group.id, viewer: amy.key) == group)

            let alone = try await store.createGroup(owner: owner, title: "Solo", memberIDs: [])
            #expect(alone.members.keys == [owner.key])
        }
    }
}
