import Foundation
import ParleyCore
import ParleyStore
import Testing

@Suite("History windows", .timeLimit(.minutes(1)))
struct HistoryTests {
    /// 25 messages, alternating senders; message n is sent at `start + 10 n`.
    struct Seeded {
        let conversation: Conversation
        let ann: Account
        let bob: Account
        let sent: [Message]
        let start: Millis
        func ts(ofSeq seq: Int64) -> Millis { start + 10 * seq }
    }

    static let count: Int64 = 25

    static func seed(_ fixture: StoreFixture) async throws -> Seeded {
        let store = fixture.store
        let people = try await store.makeAccounts("ann", "bob")
        let ann = people[0], bob = people[1]
        let conversation = try await store.makeGroup(ann, [bob])
        let start = fixture.clock.now
        var sent: [Message] = []
        for seq in 1...count {
            fixture.clock.now = start + 10 * seq
            let sender = seq.isMultiple(of: 2) ? bob : ann
            sent.append(try await store.send("message \(seq)", to: conversation.id, from: sender, clientID: "client-\(seq)").message)
        }
        return Seeded(conversation: conversation, ann: ann, bob: bob, sent: sent, start: start)
    }

    private func page(_ store: any ChatStore, _ seeded: Seeded, _ window: HistoryWindow, limit: Int) async throws -> (seqs: [Int64], hasMore: Bool) {
        let page = try await store.history(conversationID: seeded.conversation.id, viewer: seeded.bob.key, window: window, limit: limit)
        let seqs = page.messages.map(\.seq)
        #expect(seqs == seqs.sorted(), "pages are always oldest first")
        // Every message is the one that was sent.
        #expect(page.messages == seqs.map { seeded.sent[Int($0) - 1] })
        return (seqs, page.hasMore)
    }

    @Test("messages come back exactly as stored, with client_id, sender and ts", arguments: StoreFactory.all)
    func storedMessages(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let seeded = try await Self.seed(fixture)
            let messages = try await fixture.store.history(
                conversationID: seeded.conversation.id, viewer: seeded.ann.key, window: .after(0), limit: 100
            ).messages
            #expect(messages.count == 25)
            for message in messages {
                #expect(message.conversationID == seeded.conversation.id)
                #expect(message.clientID == "client-\(message.seq)")
                #expect(message.text == "message \(message.seq)")
                #expect(message.sender == (message.seq.isMultiple(of: 2) ? seeded.bob.user : seeded.ann.user))
                #expect(message.ts == seeded.ts(ofSeq: message.seq))
                #expect(OpaqueID.isWellFormed(message.id))
            }
            #expect(messages == seeded.sent)
            let conversation = try await fixture.store.conversation(id: seeded.conversation.id, viewer: seeded.ann.key)
            #expect(conversation.lastMessage == seeded.sent.last)
            #expect(conversation.lastActivityTS == seeded.ts(ofSeq: 25))
        }
    }

    @Test("latest: the newest N, oldest first; hasMore when older ones exist", arguments: StoreFactory.all)
    func latest(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let seeded = try await Self.seed(fixture)
            var result = try await page(store, seeded, .latest, limit: 10)
            #expect(result.seqs == Array(16...25))
            #expect(result.hasMore)
            result = try await page(store, seeded, .latest, limit: 24)
            #expect(result.seqs == Array(2...25))
            #expect(result.hasMore)
            result = try await page(store, seeded, .latest, limit: 25)
            #expect(result.seqs == Array(1...25))
            #expect(!result.hasMore, "exactly all of them: nothing older")
            result = try await page(store, seeded, .latest, limit: 100)
            #expect(result.seqs == Array(1...25))
            #expect(!result.hasMore)
            result = try await page(store, seeded, .latest, limit: 1)
            #expect(result.seqs == [25])
            #expect(result.hasMore)
        }
    }

    @Test("after: messages with seq > n, oldest first; hasMore when newer ones exist", arguments: StoreFactory.all)
    func after(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let seeded = try await Self.seed(fixture)
            var result = try await page(store, seeded, .after(0), limit: 10)
            #expect(result.seqs == Array(1...10))
            #expect(result.hasMore)
            result = try await page(store, seeded, .after(10), limit: 10)
            #expect(result.seqs == Array(11...20))
            #expect(result.hasMore)
            result = try await page(store, seeded, .after(15), limit: 10)
            #expect(result.seqs == Array(16...25))
            #expect(!result.hasMore, "exactly the rest: nothing newer")
            result = try await page(store, seeded, .after(20), limit: 10)
            #expect(result.seqs == Array(21...25))
            #expect(!result.hasMore)
            result = try await page(store, seeded, .after(24), limit: 10)
            #expect(result.seqs == [25])
            #expect(!result.hasMore)
            result = try await page(store, seeded, .after(25), limit: 10)
            #expect(result.seqs.isEmpty)
            #expect(!result.hasMore)
            result = try await page(store, seeded, .after(1000), limit: 10)
            #expect(result.seqs.isEmpty)
            #expect(!result.hasMore)
        }
    }

    @Test("before: the N just before seq n, oldest first; hasMore when older ones exist", arguments: StoreFactory.all)
    func before(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let seeded = try await Self.seed(fixture)
            var result = try await page(store, seeded, .before(26), limit: 5)
            #expect(result.seqs == Array(21...25))
            #expect(result.hasMore)
            result = try await page(store, seeded, .before(20), limit: 5)
            #expect(result.seqs == Array(15...19), "the five just before 20, not the first five")
            #expect(result.hasMore)
            result = try await page(store, seeded, .before(12), limit: 10)
            #expect(result.seqs == Array(2...11))
            #expect(result.hasMore)
            result = try await page(store, seeded, .before(11), limit: 10)
            #expect(result.seqs == Array(1...10))
            #expect(!result.hasMore, "exactly the rest: nothing older")
            result = try await page(store, seeded, .before(4), limit: 10)
            #expect(result.seqs == [1, 2, 3])
            #expect(!result.hasMore)
            result = try await page(store, seeded, .before(1), limit: 10)
            #expect(result.seqs.isEmpty)
            #expect(!result.hasMore)
            result = try await page(store, seeded, .before(1000), limit: 3)
            #expect(result.seqs == [23, 24, 25])
            #expect(result.hasMore)
        }
    }

    @Test("scrolling back from latest with before visits every message once", arguments: StoreFactory.all)
    func scrollBack(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let seeded = try await Self.seed(fixture)
            var current = try await page(store, seeded, .latest, limit: 7)
            var seen = current.seqs
            var pages = 1
            while current.hasMore, let oldest = current.seqs.first, pages < 10 {
                current = try await page(store, seeded, .before(oldest), limit: 7)
                seen = current.seqs + seen
                pages += 1
            }
            #expect(seen == Array(1...25))
            #expect(pages == 4)
        }
    }

    @Test("since: messages with ts >= t, oldest first; hasMore when newer ones exist", arguments: StoreFactory.all)
    func since(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let seeded = try await Self.seed(fixture)
            var result = try await page(store, seeded, .since(seeded.ts(ofSeq: 18)), limit: 100)
            #expect(result.seqs == Array(18...25), "ts equal to t is included")
            #expect(!result.hasMore)
            result = try await page(store, seeded, .since(seeded.ts(ofSeq: 18) - 5), limit: 100)
            #expect(result.seqs == Array(18...25))
            result = try await page(store, seeded, .since(seeded.ts(ofSeq: 18) + 1), limit: 100)
            #expect(result.seqs == Array(19...25))
            result = try await page(store, seeded, .since(seeded.ts(ofSeq: 18)), limit: 3)
            #expect(result.seqs == [18, 19, 20], "the oldest ones first, not the newest")
            #expect(result.hasMore)
            result = try await page(store, seeded, .since(seeded.ts(ofSeq: 18)), limit: 8)
            #expect(result.seqs == Array(18...25))
            #expect(!result.hasMore)
            result = try await page(store, seeded, .since(0), limit: 25)
            #expect(result.seqs == Array(1...25))
            #expect(!result.hasMore)
            result = try await page(store, seeded, .since(seeded.ts(ofSeq: 25) + 1), limit: 10)
            #expect(result.seqs.isEmpty)
            #expect(!result.hasMore)
        }
    }

    @Test("since: several messages in the same millisecond are all included", arguments: StoreFactory.all)
    func sinceWithEqualTimestamps(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let conversation = try await store.makeGroup(people[0], [people[1]])
            try await store.send("early", to: conversation.id, from: people[0])
            fixture.clock.advance(by: 100)
            let t = fixture.clock.now
            for index in 0..<5 { try await store.send("same ms \(index)", to: conversation.id, from: people[index % 2]) }
            let page = try await store.history(conversationID: conversation.id, viewer: people[1].key, window: .since(t), limit: 10)
            #expect(page.messages.map(\.seq) == [2, 3, 4, 5, 6])
            #expect(page.messages.allSatisfy { $0.ts == t })
            #expect(!page.hasMore)
        }
    }

    @Test("message times never go backwards within a conversation, even when the clock does", arguments: StoreFactory.all)
    func timestampsDoNotGoBack(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let conversation = try await store.makeGroup(people[0], [people[1]])
            fixture.clock.advance(by: 10_000)
            let first = try await store.send("first", to: conversation.id, from: people[0])
            fixture.clock.advance(by: -5_000)
            let second = try await store.send("second", to: conversation.id, from: people[1])
            #expect(second.message.ts >= first.message.ts)
            // since_ts relies on it: asking from the first message's time returns both.
            let page = try await store.history(
                conversationID: conversation.id, viewer: people[0].key, window: .since(first.message.ts), limit: 10)
            #expect(page.messages.map(\.seq) == [1, 2])
        }
    }

    @Test("an empty conversation has an empty history in every window", arguments: StoreFactory.all)
    func emptyConversation(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let conversation = try await store.makeGroup(people[0], [people[1]])
            for window in [HistoryWindow.latest, .after(0), .before(1), .before(100), .since(0)] {
                let page = try await store.history(conversationID: conversation.id, viewer: people[1].key, window: window, limit: 10)
                #expect(page.messages.isEmpty, "window \(window)")
                #expect(!page.hasMore, "window \(window)")
            }
        }
    }

    @Test("history holds only the conversation's own messages", arguments: StoreFactory.all)
    func noLeaksBetweenConversations(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let group = try await store.makeGroup(ann, [bob])
            let direct = try await store.openDirect(between: ann, andUserID: bob.user.id).conversation
            for index in 0..<6 {
                try await store.send("g\(index)", to: group.id, from: ann)
                try await store.send("d\(index)", to: direct.id, from: bob)
            }
            for window in [HistoryWindow.latest, .after(0), .before(100), .since(0)] {
                let inGroup = try await store.history(conversationID: group.id, viewer: bob.key, window: window, limit: 100)
                #expect(inGroup.messages.map(\.text) == (0..<6).map { "g\($0)" })
                #expect(inGroup.messages.map(\.seq) == Array(1...6))
                let inDirect = try await store.history(conversationID: direct.id, viewer: ann.key, window: window, limit: 100)
                #expect(inDirect.messages.map(\.text) == (0..<6).map { "d\($0)" })
            }
        }
    }
}
