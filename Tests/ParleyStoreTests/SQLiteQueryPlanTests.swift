import Foundation
import GRDB
import ParleyCore
@testable import ParleyStore
import Testing

/// SQLite only: the schema's upgrade path, and that the social queries are
/// served by indexes rather than scans.
@Suite("SQLite schema and query plans", .timeLimit(.minutes(1)))
struct SQLiteQueryPlanTests {
    @Test("a database made before search keys and blocks is upgraded, its display names folded for search")
    func upgradeFromV1() async throws {
        let database = try SQLiteTestDatabase()
        defer { Task { await database.destroy() } }
        do {
            let queue = try DatabaseQueue(path: database.path)
            try SQLiteSchema.migrator.migrate(queue, upTo: "v1: accounts, tokens, conversations, messages")
            try await queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO users (public_id, handle, handle_key, display_name, password_hash, created_ts)
                        VALUES (?, 'emile', 'emile', 'Émile Zola', 'hash', 1)
                        """,
                    arguments: [OpaqueID.make()])
            }
            try queue.close()
        }
        let store = try SQLiteChatStore(path: database.path)
        #expect(try await store.searchUsers(prefix: SearchKey.fold("ÉMI"), limit: 20).map(\.handle) == ["emile"])
        let ann = try await store.makeAccount("ann")
        let emile = try #require(try await store.account(handleKey: "emile"))
        #expect(try await store.block(ann, userID: emile.user.id).changed, "the blocks table exists")
        try await store.close()
    }

    @Test("search, contacts, typing and presence queries use indexes", arguments: [
        ("search by handle", "SELECT id FROM users WHERE handle_key >= 'al' AND handle_key < 'am' ORDER BY handle_key, handle_key LIMIT 20"),
        ("search by display name", "SELECT id FROM users WHERE display_key >= 'al' AND display_key < 'am' ORDER BY display_key, handle_key LIMIT 20"),
        ("blocks of a user", "SELECT blocked_id FROM blocks WHERE blocker_id = 1"),
        ("blocks of a user, the other way", "SELECT blocker_id FROM blocks WHERE blocked_id = 1"),
        ("conversations of a user", "SELECT conversation_id FROM members WHERE user_id = 1"),
        ("activity at a snapshot", "SELECT ts FROM messages WHERE conversation_id = 1 AND id <= 9 ORDER BY seq DESC LIMIT 1"),
    ])
    func indexed(_ name: String, _ sql: String) async throws {
        let database = try SQLiteTestDatabase()
        defer { Task { await database.destroy() } }
        let store = try SQLiteChatStore(path: database.path)
        let plan = try await store.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(sql)").map { $0["detail"] as String }
        }
        try await store.close()
        #expect(plan.contains { $0.contains("USING") && ($0.contains("INDEX") || $0.contains("PRIMARY KEY")) }, "\(name): \(plan)")
        #expect(!plan.contains { $0.hasPrefix("SCAN") && !$0.contains("INDEX") }, "\(name) scans a table: \(plan)")
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(name) sorts: \(plan)")
    }
}
