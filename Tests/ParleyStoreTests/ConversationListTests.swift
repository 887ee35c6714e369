import Foundation
import ParleyCore
import ParleyStore
import Testing

@Suite("Conversation list", .timeLimit(.minutes(1)))
struct ConversationListTests {
    /// Every page from the start, following `nextCursor` (through its plain
    /// form, which the server seals). Stops after `maxPages` so a broken cursor
    /// cannot loop forever.
    static func allPages(_ store: any ChatStore, of viewer: UserKey, limit: Int, maxPages: Int = 20) async throws -> [ConversationPage] {
        var pages: [ConversationPage] = []
        var cursor: ConversationCursor?
        repeat {
            let page = try await store.conversations(of: viewer, limit: limit, after: cursor)
            pages.append(page)
            if let next = page.nextCursor {
                let decoded = ConversationCursor(bytes: next.bytes)
                #expect(decoded == next, "the cursor survives its plain form")
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

    @Test("paging neither skips nor repeats while messages move conversations to the top; later pages keep the first page's order", arguments: StoreFactory.all)
    func stableUnderActivity(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            var created: [Conversation] = []
            for index in 0..<30 {
                fixture.clock.advance(by: 1_000)
                created.append(try await store.makeGroup(ann, [bob], title: "g\(index)"))
            }
            // Newest first: g29 … g0.
            let expected = created.reversed().map(\.id)

            let first = try await store.conversations(of: ann.key, limit: 10, after: nil)
            #expect(first.conversations.map(\.id) == Array(expected[0..<10]))
            // Meanwhile: conversations of pages 2 and 3 jump to the top, one of
            // page 1 too, and a new one appears.
            for index in [5, 15, 25, 0] {
                fixture.clock.advance(by: 1_000)
                try await store.send("bump \(index)", to: created[index].id, from: bob)
            }
            fixture.clock.advance(by: 1_000)
            let newcomer = try await store.makeGroup(bob, [ann], title: "new")

            var cursor = try #require(first.nextCursor)
            var rest: [Conversation] = []
            for _ in 0..<5 {
                let page = try await store.conversations(of: ann.key, limit: 10, after: ConversationCursor(bytes: cursor.bytes))
                rest += page.conversations
                guard let next = page.nextCursor else { break }
                cursor = next
            }
            #expect(rest.map(\.id) == Array(expected[10...]), "pages 2 and 3 as of the first page")
            #expect(!rest.contains { $0.id == newcomer.id }, "a conversation created after the first page waits for the next first page")
            // The objects themselves are current.
            #expect(rest.first { $0.id == created[15].id }?.lastMessage?.text == "bump 15")

            // A fresh first page shows the new order.
            let fresh = try await Self.allPages(store, of: ann.key, limit: 10).flatMap(\.conversations).map(\.id)
            #expect(Array(fresh.prefix(5)) == [newcomer.id] + [0, 25, 15, 5].map { created[$0].id })
            #expect(fresh.count == 31)
        }
    }

    @Test("messages committed together list their conversations in the order they were sent, on every page", arguments: StoreFactory.all)
    func orderWithinABatch(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            var groups: [Conversation] = []
            for index in 0..<12 {
                groups.append(try await store.makeGroup(ann, [bob], title: "g\(index)"))
            }
            // The clock stands still, so every message has the same ts; they
            // are submitted back to back, without waiting, so that they share
            // commits. Only the order of sending can tell them apart.
            let sent = groups.shuffled()
            let completions = CompletionRecorder()
            for (index, group) in sent.enumerated() {
                completions.submit(
                    store, AppendRequest(conversationID: group.id, sender: bob, text: "m\(index)", clientID: "c\(index)"), tag: index)
            }
            try await completions.waitForCompletions(sent.count)
            for index in sent.indices { _ = completions.outcome(tag: index) }
            let expected = sent.reversed().map(\.id)
            let whole = try await store.conversations(of: ann.key, limit: 20, after: nil).conversations
            #expect(whole.map(\.id) == expected)
            let paged = try await Self.allPages(store, of: ann.key, limit: 5).flatMap(\.conversations)
            #expect(paged.map(\.id) == expected, "the cursor keeps the same order")
            #expect(try await store.readMarks(of: bob.key).map(\.conversationID) == expected)
        }
    }

    @Test("a cursor's plain form is checked: a damaged one does not decode")
    func cursorForm() throws {
        let cursor = ConversationCursor(snapshot: 1_700_000_000_000_042, activity: 1_700_000_000_000_007, conversationID: OpaqueID.make())
        #expect(ConversationCursor(bytes: cursor.bytes) == cursor)
        for damaged in [
            "", "c1:1:2:3", "c2:1:2:3:\(cursor.conversationID)", "c1:x:2:3:\(cursor.conversationID)", "c1:1:2:3:short",
            "c1:1:2:3:4:\(cursor.conversationID)", "c1:1:2:\(cursor.conversationID)", "c2:x:2:\(cursor.conversationID)",
            "c2:1:2:short", "c2:1:\(cursor.conversationID)",
        ] {
            #expect(ConversationCursor(bytes: Array(damaged.utf8)) == nil, "\(damaged)")
        }
    }
}
