import ParleyCore
import ParleyStore
import Testing

/// Log-in codes as the stores keep them: only the newest works, tries are
/// counted, a code works once even for two people at once, and a linked
/// address is one account's.
@Suite("Log-in codes in the store", .timeLimit(.minutes(1)))
struct LoginCodeStoreTests {
    static let now: Millis = 1_800_000_000_000

    static func code(_ hash: String, _ email: String = "kim@example.test", _ purpose: LoginCodeRecord.Purpose = .signIn, at time: Millis = now)
        -> LoginCodeRecord
    {
        LoginCodeRecord(email: email, purpose: purpose, codeHash: hash, createdTS: time, expiresTS: time + LoginCodePolicy.lifetime)
    }

    static func redeem(
        _ store: any ChatStore, _ hash: String, _ email: String = "kim@example.test", _ purpose: LoginCodeRecord.Purpose = .signIn,
        at time: Millis = now + 1000
    ) async throws -> (account: Account, created: Bool)? {
        try await store.redeemLoginCode(
            email: email, codeHash: hash, purpose: purpose, at: time, maxTries: LoginCodePolicy.maxTries,
            handles: ExternalIdentity.handleCandidates(preferred: nil))
    }

    @Test("only the newest code works, once; the first use makes the account, later ones find it; five tries wear a code out; an expired code is none", arguments: StoreFactory.all)
    func redeeming(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            try await store.recordLoginCode(Self.code("old"))
            try await store.recordLoginCode(Self.code("new"))
            #expect(try await Self.redeem(store, "old") == nil, "a newer code ends the older one")
            let made = try #require(try await Self.redeem(store, "new"))
            #expect(made.created)
            #expect(try await store.email(of: made.account.key) == "kim@example.test")
            #expect(try await Self.redeem(store, "new") == nil, "used")

            try await store.recordLoginCode(Self.code("again"))
            let found = try #require(try await Self.redeem(store, "again"))
            #expect(!found.created && found.account.key == made.account.key)

            try await store.recordLoginCode(Self.code("worn"))
            for _ in 0..<4 { #expect(try await Self.redeem(store, "wrong") == nil) }
            #expect(try await Self.redeem(store, "worn") != nil, "the fifth try may be the right one")
            try await store.recordLoginCode(Self.code("worn2"))
            for _ in 0..<5 { #expect(try await Self.redeem(store, "wrong") == nil) }
            #expect(try await Self.redeem(store, "worn2") == nil, "no sixth try")

            try await store.recordLoginCode(Self.code("late"))
            #expect(try await Self.redeem(store, "late", at: Self.now + LoginCodePolicy.lifetime + 1) == nil)
            #expect(try await Self.redeem(store, "late", "other@example.test") == nil, "another address's code")
        }
    }

    @Test("two people with the same code at once: one account, one session's worth", arguments: StoreFactory.all)
    func racers(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            try await store.recordLoginCode(Self.code("race", "race@example.test"))
            let results = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<6 { group.addTask { try await Self.redeem(store, "race", "race@example.test") != nil } }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 1)
        }
    }

    @Test("linking: the code for one user links the address to them; an address someone else has is a conflict; erasing frees it", arguments: StoreFactory.all)
    func linking(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("lea", "max")
            let lea = people[0], max = people[1]
            try await store.recordLoginCode(Self.code("lea", "lea@example.test", .link(lea.key)))
            #expect(try await store.pendingLinkEmail(of: lea.key, at: Self.now + 1) == "lea@example.test")
            #expect(try await Self.redeem(store, "lea", "lea@example.test", .signIn) == nil, "a link code signs no one in")
            #expect(try await Self.redeem(store, "lea", "lea@example.test", .link(max.key)) == nil, "nor links another")
            let linked = try #require(try await Self.redeem(store, "lea", "lea@example.test", .link(lea.key)))
            #expect(linked.account.key == lea.key && !linked.created)
            #expect(try await store.pendingLinkEmail(of: lea.key, at: Self.now + 2000) == nil)

            try await store.recordLoginCode(Self.code("max", "lea@example.test", .link(max.key)))
            await expectChatError(.conflict, "someone else's address") {
                _ = try await Self.redeem(store, "max", "lea@example.test", .link(max.key))
            }
            #expect(try await store.email(of: max.key) == nil)
            // Signing in by the address is Lea.
            try await store.recordLoginCode(Self.code("in", "lea@example.test"))
            #expect(try await Self.redeem(store, "in", "lea@example.test")?.account.key == lea.key)

            _ = try await store.eraseAccount(lea.key)
            #expect(try await store.email(of: lea.key) == nil)
            try await store.recordLoginCode(Self.code("max2", "lea@example.test", .link(max.key)))
            #expect(try await Self.redeem(store, "max2", "lea@example.test", .link(max.key))?.account.key == max.key)
        }
    }
}
