import Foundation
import ParleyCore
import ParleyStore
import Testing

@Suite("User search", .timeLimit(.minutes(1)))
struct SearchTests {
    func search(_ store: any ChatStore, _ query: String, limit: Int = 20) async throws -> [String] {
        try await store.searchUsers(prefix: SearchKey.fold(query), limit: limit).map(\.handle)
    }

    @Test("a prefix of the handle or of the display name matches, whatever its case; handles first", arguments: StoreFactory.all)
    func prefixes(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            _ = try await store.makeAccount("alice", displayName: "Alice Liddell")
            _ = try await store.makeAccount("Alfred", displayName: "Batman's butler")
            _ = try await store.makeAccount("bob", displayName: "Alibaba")
            _ = try await store.makeAccount("emile", displayName: "Émile Zola")
            _ = try await store.makeAccount("zed", displayName: "zed")

            #expect(try await search(store, "al") == ["Alfred", "alice", "bob"], "handles alfred, alice; then bob's display name")
            #expect(try await search(store, "ALI") == ["alice", "bob"])
            #expect(try await search(store, "alice l") == ["alice"], "the whole display name is a prefix")
            #expect(try await search(store, "liddell").isEmpty, "a later word is not a prefix")
            #expect(try await search(store, "émi") == ["emile"], "non-ASCII display names fold too")
            #expect(try await search(store, "ÉMILE") == ["emile"])
            #expect(try await search(store, "e") == ["emile"], "one user matching both ways is listed once")
            #expect(try await search(store, "bat") == ["Alfred"])
            #expect(try await search(store, "x").isEmpty)
            #expect(try await search(store, "zed") == ["zed"])
        }
    }

    @Test("at most `limit` users, in handle order", arguments: StoreFactory.all)
    func bounded(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            for index in (0..<25).reversed() {
                _ = try await store.makeAccount(String(format: "user%02d", index))
            }
            let found = try await search(store, "user", limit: 20)
            #expect(found == (0..<20).map { String(format: "user%02d", $0) })
            #expect(try await search(store, "user1", limit: 5) == ["user10", "user11", "user12", "user13", "user14"])
        }
    }

    @Test("characters that are special elsewhere are plain here", arguments: StoreFactory.all)
    func plainCharacters(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            _ = try await store.makeAccount("pct", displayName: "100% sure")
            _ = try await store.makeAccount("under_score", displayName: "x")
            _ = try await store.makeAccount("underXscore", displayName: "y")
            #expect(try await search(store, "100%") == ["pct"])
            #expect(try await search(store, "100_").isEmpty)
            #expect(try await search(store, "under_") == ["under_score"], "_ is not a wildcard")
        }
    }

    @Test("the successor of a prefix bounds exactly the strings that start with it")
    func successor() {
        #expect(SearchKey.prefixSuccessor("abc") == "abd")
        #expect(SearchKey.prefixSuccessor("a\u{10FFFF}") == "b")
        #expect(SearchKey.prefixSuccessor("\u{10FFFF}") == nil)
        #expect(SearchKey.prefixSuccessor("\u{D7FF}") == "\u{E000}", "surrogates are skipped")
        for key in ["abc", "abcz", "abc\u{10FFFF}", "abc\u{1F600}"] {
            #expect(Array(key.utf8).lexicographicallyPrecedes(Array(SearchKey.prefixSuccessor("abc")!.utf8)))
        }
        #expect(!Array("abd".utf8).lexicographicallyPrecedes(Array(SearchKey.prefixSuccessor("abc")!.utf8)))
    }
}
