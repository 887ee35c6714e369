import Foundation
import ParleyCore
import ParleyStore
import Testing

@Suite("Conversation list", .timeLimit(.minutes(1)))
struct ConversationListTests {
    /// Every page from the start, following `nextCursor` (through its wire
    /// token, as a client would). Stops after `maxPages` so a broken cursor
    /// cannot loop forever.
    static func allPages(_ store: any ChatStore, of viewer: UserKey, limit: Int, maxPages: Int = 20) async throws -> [ConversationPage] {
        var pages: [ConversationPage] = []
        var cursor: ConversationCursor?
        repeat {
            let page = try await store.conversations(of: viewer, limit: limit, after: cursor)
            pages.append(page)
            if let next = page.nextCursor {
                let decoded = ConversationCursor(token: next.token)
                #expect(decoded == next, "the cursor survives its wire form")
                cursor = decoded
            } else {
                cursor = nil
            }
        } while cursor != nil && pages.count < maxPages
        return pages
    }

    @Test("ordered by last activity, newest first; 25 conversations in pages of 10 come back each exactly once", arguments: StoreFactory.all)
    func orderedAndPaginated(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]

            var created: [Conversation] = []
            for index in 0..<23 {
                fixture.clock.advance(by: 1_000)
                created.append(try await store.makeGroup(index.isMultiple(of: 2) ? ann : bob, [index.isMultiple(of: 2) ? bob : ann], title: "g\(index)"))
            }
            fixture.clock.advance(by: 1_000)
            created.append(try await store.openDirect(between: ann, andUserID: bob.user.id).conversation)
            fixture.clock.advance(by: 1_000)
            created.append(try await store.openDirect(between: cat, andUserID: ann.user.id).conversation)
            // Someone else's conversation, which must not show up.
            let bobAndCat = try await store.openDirect(between: bob, andUserID: cat.user.id).conversation

            // Activity brings old conversations to the top, most recent first.
            for index in [3, 17, 0] {
                fixture.clock.advance(by: 1_000)
                try await store.send("bump", to: created[index].id, from: ann)
            }
            fixture.clock.advance(by: 1_000)
            try await store.send("elsewhere", to: bobAndCat.id, from: cat)

            let bumped = [0, 17, 3].map { created[$0].id }
            let untouched = created.indices.reversed().filter { ![0, 3, 17].contains($0) }.map { created[$0].id }
            let expected = bumped + untouched

            let pages = try await Self.allPages(store, of: ann.key, limit: 10)
            #expect(pages.map(\.conversations.count) == [10, 10, 5])
            #expect(pages.map { $0.nextCursor == nil } == [false, false, true], "nextCursor is nil on the last page only")
            let listed = pages.flatMap(\.conversations)
            #expect(listed.map(\.id) == expected)
            #expect(Set(listed.map(\.id)).count == 25, "each conversation exactly once")
            #expect(!listed.map(\.id).contains(bobAndCat.id))
            let times = listed.map(\.lastActivityTS)
            #expect(times == times.sorted(by: >))

            // The listed conversations are complete: the bumped one shows its last message.
            let top = try #require(listed.first)
            #expect(top.lastSeq == 1)
            #expect(top.lastMessage?.text == "bump")
            #expect(top.unread(of: ann.key) == 0)
            #expect(top.unread(of: bob.key) == 1)
        }
    }

    @Test("conversations sharing one activity time are still listed each exactly once across pages", arguments: StoreFactory.all)
    func tiesAcrossPages(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            var ids: Set<String> = []
            // The clock stands still: every conversation has the same activity time.
            for index in 0..<25 {
                ids.insert(try await store.makeGroup(people[0], [people[1]], title: "g\(index)").id)
            }
            let pages = try await Self.allPages(store, of: people[1].key, limit: 10)
            #expect(pages.map(\.conversations.count) == [10, 10, 5])
            #expect(pages.last?.nextCursor == nil)
            let listed = pages.flatMap(\.conversations).map(\.id)
            #expect(listed.count == 25)
            #expect(Set(listed) == ids)
        }
    }

    @Test("a list that fills its last page exactly ends with a nil cursor, without an empty extra page", arguments: StoreFactory.all)
    func exactMultipleOfLimit(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            for index in 0..<20 {
                fixture.clock.advance(by: 1)
                try await store.makeGroup(people[0], [people[1]], title: "g\(index)")
            }
            let pages = try await Self.allPages(store, of: people[0].key, limit: 10)
            #expect(pages.map(\.conversations.count) == [10, 10])
            #expect(pages[0].nextCursor != nil)
            #expect(pages[1].nextCursor == nil)

            let whole = try await store.conversations(of: people[0].key, limit: 20, after: nil)
            #expect(whole.conversations.count == 20)
            #expect(whole.nextCursor == nil)
            let more = try await store.conversations(of: people[0].key, limit: 100, after: nil)
            #expect(more.conversations.map(\.id) == whole.conversations.map(\.id))
            #expect(more.nextCursor == nil)
        }
    }

    @Test("a user with no conversations gets an empty last page", arguments: StoreFactory.all)
    func emptyList(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            try await store.makeGroup(people[0], [people[1]])
            let page = try await store.conversations(of: people[2].key, limit: 10, after: nil)
            #expect(page.conversations.isEmpty)
            #expect(page.nextCursor == nil)
        }
    }

    @Test("leaving a group removes it from the list; being added puts it there", arguments: StoreFactory.all)
    func listFollowsMembership(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]
            let first = try await store.makeGroup(ann, [bob], title: "first")
            let second = try await store.makeGroup(ann, [bob], title: "second")
            #expect(Set(try await store.conversations(of: bob.key, limit: 10, after: nil).conversations.map(\.id)) == [first.id, second.id])

            _ = try await store.removeMember(conversationID: first.id, actor: bob.key, userID: bob.user.id)
            #expect(try await store.conversations(of: bob.key, limit: 10, after: nil).conversations.map(\.id) == [second.id])

            _ = try await store.addMember(conversationID: first.id, actor: ann.key, userID: cat.user.id)
            #expect(try await store.conversations(of: cat.key, limit: 10, after: nil).conversations.map(\.id) == [first.id])
        }
    }
}
