import Foundation
import ParleyCore
import ParleyStore
import Testing

@Suite("Accounts and tokens", .timeLimit(.minutes(1)))
struct AccountTests {
    @Test("an account can be found by id, handle key and credentials", arguments: StoreFactory.all)
    func lookups(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let alice = try await store.createAccount(NewAccount(
                handle: "Alice", handleKey: "alice", displayName: "Alice A.", passwordHash: "$2b$12$secret"))
            #expect(alice.user.handle == "Alice", "the handle is kept as written")
            #expect(alice.user.displayName == "Alice A.")
            #expect(OpaqueID.isWellFormed(alice.user.id))
            let bob = try await store.makeAccount("bob")
            #expect(bob.key != alice.key)
            #expect(bob.user.id != alice.user.id)

            #expect(try await store.account(id: alice.user.id) == alice)
            #expect(try await store.account(handleKey: "alice") == alice)
            let credentials = try #require(try await store.credentials(handleKey: "alice"))
            #expect(credentials.account == alice)
            #expect(credentials.passwordHash == "$2b$12$secret")
            #expect(try await store.credentials(handleKey: "bob")?.account == bob)

            #expect(try await store.credentials(handleKey: "nobody") == nil)
            #expect(try await store.account(handleKey: "nobody") == nil)
            #expect(try await store.account(id: UnknownIDs.wellFormed) == nil)
            for id in UnknownIDs.malformed {
                #expect(try await store.account(id: id) == nil, "malformed id '\(id)'")
            }
        }
    }

    @Test("handles are unique whatever their case", arguments: StoreFactory.all)
    func handleConflicts(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let first = try await store.makeAccount("Alice")
            for handle in ["Alice", "alice", "ALICE", "aLiCe"] {
                await expectChatError(.conflict, "handle '\(handle)'") {
                    _ = try await store.makeAccount(handle, passwordHash: "other")
                }
            }
            // The original is untouched.
            let credentials = try #require(try await store.credentials(handleKey: "alice"))
            #expect(credentials.account == first)
            #expect(credentials.passwordHash == "hash")
            // A different handle is fine.
            let other = try await store.makeAccount("alice2")
            #expect(other.key != first.key)
        }
    }

    @Test("racing sign-ups for one handle: exactly one wins", arguments: StoreFactory.all)
    func concurrentSignUps(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let results = await Self.signUpConcurrently(store, handles: (0..<10).map { $0.isMultiple(of: 2) ? "Racer" : "racer" })
            let winners = results.compactMap { try? $0.get() }
            #expect(winners.count == 1)
            var failures: [any Error] = []
            for result in results {
                if case .failure(let failure) = result { failures.append(failure) }
            }
            #expect(failures.count == 9)
            #expect(failures.allSatisfy { ($0 as? ChatError)?.code == .conflict }, "\(failures)")
            let stored = try await store.account(handleKey: "racer")
            #expect(stored == winners.first)
        }
    }

    static func signUpConcurrently(_ store: any ChatStore, handles: [String]) async -> [Result<Account, any Error>] {
        await withTaskGroup(of: Result<Account, any Error>.self) { group in
            for (index, handle) in handles.enumerated() {
                group.addTask {
                    do {
                        return .success(try await cancellable { try await store.makeAccount(handle, passwordHash: "h\(index)") })
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test("a revoked token is listed until it expires, survives a restart, and unknown ids are not revoked", arguments: StoreFactory.all)
    func tokenRevocation(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let start = fixture.clock.now
            let hour: Millis = 3_600_000
            let ann = try await fixture.store.makeAccount("ann")
            let short = TokenRecord(id: "tok-short", user: ann.key, issuedTS: start, expiresTS: start + hour)
            let long = TokenRecord(id: "tok-long", user: ann.key, issuedTS: start, expiresTS: start + 24 * hour)
            let kept = TokenRecord(id: "tok-kept", user: ann.key, issuedTS: start, expiresTS: start + 24 * hour)
            for token in [short, long, kept] { try await fixture.store.recordToken(token) }
            #expect(try await fixture.store.revokedTokenIDs().isEmpty)

            #expect(try await fixture.store.revokeToken(id: "tok-short"))
            #expect(try await fixture.store.revokeToken(id: "tok-long"))
            #expect(try await fixture.store.revokeToken(id: "no-such-token") == false)
            #expect(Set(try await fixture.store.revokedTokenIDs()) == ["tok-short", "tok-long"])

            // Revoking twice is harmless and lists it once.
            #expect(try await fixture.store.revokeToken(id: "tok-long"))
            #expect(try await fixture.store.revokedTokenIDs().sorted() == ["tok-long", "tok-short"])
            // Recording a token again (a product token revoked twice at
            // once) changes nothing: still revoked, still when it was.
            try await fixture.store.recordToken(TokenRecord(id: "tok-long", user: ann.key, issuedTS: start, expiresTS: start + hour))
            #expect(try await fixture.store.revokedTokenIDs().sorted() == ["tok-long", "tok-short"])

            try await fixture.restart()
            #expect(try await fixture.store.revokedTokenIDs().sorted() == ["tok-long", "tok-short"], "revocation is durable")

            // Once a token has expired it fails on its own and is no longer listed.
            fixture.clock.now = start + 2 * hour
            #expect(try await fixture.store.revokedTokenIDs() == ["tok-long"])
            fixture.clock.now = start + 25 * hour
            #expect(try await fixture.store.revokedTokenIDs().isEmpty)
        }
    }

    @Test("revoking an already expired token is not listed", arguments: StoreFactory.all)
    func revokingExpiredToken(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let start = fixture.clock.now
            let ann = try await store.makeAccount("ann")
            try await store.recordToken(TokenRecord(id: "old", user: ann.key, issuedTS: start - 10_000, expiresTS: start - 1))
            #expect(try await store.revokeToken(id: "old"))
            #expect(try await store.revokedTokenIDs().isEmpty)
        }
    }
}
