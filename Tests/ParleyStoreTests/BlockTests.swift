import Foundation
import ParleyCore
import ParleyStore
import Testing

@Suite("Blocks", .timeLimit(.minutes(1)))
struct BlockTests {
    @Test("blocking and unblocking report whether anything changed; the list is most recent first", arguments: StoreFactory.all)
    func blockList(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]
            #expect(try await store.block(ann, userID: bob.user.id).changed)
            #expect(try await !store.block(ann, userID: bob.user.id).changed, "blocking twice changes nothing")
            fixture.clock.advance(by: 10)
            #expect(try await store.block(ann, userID: cat.user.id).changed)
            #expect(try await store.blockedUsers(of: ann.key) == [cat.user, bob.user])
            #expect(try await store.blockedUsers(of: bob.key).isEmpty, "a block is one-way in the list")

            #expect(try await store.unblock(ann, userID: cat.user.id).changed)
            #expect(try await !store.unblock(ann, userID: cat.user.id).changed)
            #expect(try await store.blockedUsers(of: ann.key) == [bob.user])

            try await fixture.restart()
            #expect(try await fixture.store.blockedUsers(of: ann.key) == [bob.user], "blocks are durable")
        }
    }

    @Test("unknown users and oneself cannot be blocked", arguments: StoreFactory.all)
    func refusals(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let ann = try await store.makeAccount("ann")
            await expectChatError(.notFound) { _ = try await store.block(ann, userID: OpaqueID.make()) }
            await expectChatError(.notFound) { _ = try await store.unblock(ann, userID: "not-an-id") }
            await expectChatError(.invalidRequest) { _ = try await store.block(ann, userID: ann.user.id) }
        }
    }

    @Test("a block in either direction closes the direct conversation; unblocking reopens it", arguments: StoreFactory.all)
    func directConversation(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            // Cached in the write lane before the block: the block must reach the cache.
            try await store.send("before", to: direct.id, from: ann, clientID: "c1")

            _ = try await store.block(bob, userID: ann.user.id)
            for (from, to) in [(ann, bob), (bob, ann)] {
                await expectChatError(.blocked) { _ = try await store.openDirect(between: from, andUserID: to.user.id) }
                await expectChatError(.blocked) { try await store.send("after", to: direct.id, from: from) }
            }
            // The retry of a message stored before the block is answered, not refused.
            let retry = try await store.send("before", to: direct.id, from: ann, clientID: "c1")
            #expect(retry.duplicate && retry.message.seq == 1)
            #expect(try await store.allMessages(of: direct.id, viewer: ann.key).map(\.text) == ["before"])

            // A restart rebuilds the lane's cache from the database.
            try await fixture.restart()
            await expectChatError(.blocked) { try await fixture.store.send("still", to: direct.id, from: ann) }

            _ = try await fixture.store.unblock(bob, userID: ann.user.id)
            #expect(try await fixture.store.openDirect(between: ann, andUserID: bob.user.id).conversation.id == direct.id)
            #expect(try await fixture.store.send("again", to: direct.id, from: ann).message.seq == 2)
        }
    }

    @Test("in a group, blocked users stay members and keep receiving each other's messages", arguments: StoreFactory.all)
    func groups(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]
            let group = try await store.makeGroup(ann, [bob, cat])
            _ = try await store.block(ann, userID: bob.user.id)
            let sent = try await store.send("hello all", to: group.id, from: bob)
            #expect(Set(sent.recipients) == [ann.key, bob.key, cat.key])
            let seen = try await store.conversation(id: group.id, viewer: cat.key)
            #expect(seen.blocks.separates(ann.key, bob.key) && seen.blocks.separates(bob.key, ann.key))
            #expect(!seen.blocks.separates(ann.key, cat.key))
        }
    }

    @Test("presence is visible to oneself and to contacts, never across a block", arguments: StoreFactory.all)
    func presenceVisibility(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "dan")
            let ann = people[0], bob = people[1], cat = people[2], dan = people[3]
            try await store.makeGroup(ann, [bob, cat])
            try await store.recordLastSeen(ann.key, at: 1234)

            func visible(_ viewer: Account) async throws -> Bool {
                try #require(try await store.presence(of: [ann.user.id], viewer: viewer.key).first).visible
            }
            #expect(try await visible(ann))
            #expect(try await visible(bob))
            #expect(try await !visible(dan), "shares no conversation")
            #expect(Set(try await store.contacts(of: ann.key)) == [bob.key, cat.key])

            _ = try await store.block(bob, userID: ann.user.id)
            #expect(try await !visible(bob))
            #expect(try await store.contacts(of: ann.key) == [cat.key])
            #expect(try await store.contacts(of: bob.key) == [cat.key])

            let byHandle = try #require(try await store.presence(ofHandleKey: "ann", viewer: cat.key))
            #expect(byHandle.account == ann && byHandle.visible && byHandle.lastSeenTS == 1234)
            #expect(try await store.presence(ofHandleKey: "nobody", viewer: cat.key) == nil)
            #expect(try await store.presence(of: [OpaqueID.make(), "junk", dan.user.id], viewer: cat.key).map(\.account) == [dan])

            try await store.recordLastSeen(ann.key, at: 1000)
            #expect(try await store.presence(ofHandleKey: "ann", viewer: cat.key)?.lastSeenTS == 1234, "last seen never goes back")
        }
    }

    @Test("typing reaches the other members but not across a block; non-members are refused", arguments: StoreFactory.all)
    func typingRecipients(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "dan")
            let ann = people[0], bob = people[1], cat = people[2], dan = people[3]
            let group = try await store.makeGroup(ann, [bob, cat])
            #expect(Set(try await store.typingRecipients(conversationID: group.id, typer: ann.key)) == [bob.key, cat.key])
            _ = try await store.block(cat, userID: ann.user.id)
            #expect(try await store.typingRecipients(conversationID: group.id, typer: ann.key) == [bob.key])
            #expect(try await store.typingRecipients(conversationID: group.id, typer: bob.key).sorted() == [ann.key, cat.key].sorted())
            await expectConversationNotFound { _ = try await store.typingRecipients(conversationID: group.id, typer: dan.key) }
            await expectConversationNotFound { _ = try await store.typingRecipients(conversationID: OpaqueID.make(), typer: ann.key) }
        }
    }
}
