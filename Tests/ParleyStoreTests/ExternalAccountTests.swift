import ParleyCore
import ParleyStore
import Testing

@Suite("Users the product knows by its own id", .timeLimit(.minutes(1)))
struct ExternalAccountTests {
    static func request(_ externalID: String, preferred: String?, name: String? = nil) -> ExternalAccount {
        ExternalAccount(
            externalID: externalID, handles: ExternalIdentity.handleCandidates(preferred: preferred), displayName: name)
    }

    @Test("made on first use with the preferred handle, found the same afterwards, and without a password", arguments: StoreFactory.all)
    func firstUse(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            #expect(try await store.account(externalID: "product-42") == nil)
            let (made, created) = try await store.provisionAccount(Self.request("product-42", preferred: "Carol", name: "Carol C."))
            #expect(created)
            #expect(made.user.handle == "Carol")
            #expect(made.user.displayName == "Carol C.")
            #expect(OpaqueID.isWellFormed(made.user.id) && made.user.id != "product-42")
            let (again, createdAgain) = try await store.provisionAccount(Self.request("product-42", preferred: "other", name: "Other"))
            #expect(!createdAgain)
            #expect(again == made, "a later claim does not rename the user")
            #expect(try await store.account(externalID: "product-42") == made)
            #expect(try await store.account(externalID: "PRODUCT-42") == nil, "external ids are compared exactly")
            let credentials = try #require(try await store.credentials(handleKey: "carol"))
            #expect(credentials.account == made)
            #expect(credentials.passwordHash == nil, "no password: it cannot be used to sign in")
        }
    }

    @Test("a taken or invalid preferred handle gives a generated one; the display name falls back to the handle", arguments: StoreFactory.all)
    func generatedHandles(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let alice = try await store.makeAccount("alice")
            let (taken, _) = try await store.provisionAccount(Self.request("x-1", preferred: "ALICE"))
            #expect(taken.key != alice.key)
            #expect(taken.user.handle.hasPrefix("u") && taken.user.handle.count == 11, "\(taken.user.handle)")
            #expect(taken.user.displayName == taken.user.handle)
            let (invalid, _) = try await store.provisionAccount(Self.request("x-2", preferred: "not a handle!"))
            #expect(try Validation.handleKey(invalid.user.handle) == invalid.user.handle)
            #expect(invalid.user.handle != taken.user.handle)
            // Every handle taken: a conflict, and nothing is made.
            let full = ExternalAccount(externalID: "x-3", handles: [("alice", "alice")], displayName: nil)
            await expectChatError(.conflict, "no free handle") { _ = try await store.provisionAccount(full) }
            #expect(try await store.account(externalID: "x-3") == nil)
        }
    }

    @Test("first uses racing for one external id make one user", arguments: StoreFactory.all)
    func racingFirstUses(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let accounts = try await withThrowingTaskGroup(of: (Account, Bool).self) { group in
                for index in 0..<10 {
                    group.addTask { try await store.provisionAccount(Self.request("racer", preferred: index.isMultiple(of: 2) ? "racer" : nil)) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(accounts.map(\.0)).count == 1, "\(accounts)")
            #expect(accounts.filter(\.1).count == 1, "exactly one call made the user")
        }
    }
}
