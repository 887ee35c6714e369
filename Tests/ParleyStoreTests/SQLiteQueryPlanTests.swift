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

    @Test("a database made before activity stamps is upgraded: old conversations list in the order of their activity, ties by commit order, and new activity comes after")
    func upgradeToActivityStamps() async throws {
        let database = try SQLiteTestDatabase()
        defer { Task { await database.destroy() } }
        // Three conversations created in one millisecond, then a message into
        // the first and one into the second, again in one millisecond.
        let ids = (0..<3).map { _ in OpaqueID.make() }
        do {
            let queue = try DatabaseQueue(path: database.path)
            try SQLiteSchema.migrator.migrate(queue, upTo: "v3: bans")
            try await queue.write { db in
                try db.execute(sql: """
                    INSERT INTO users (public_id, handle, handle_key, display_name, display_key, password_hash, created_ts)
                    VALUES (?, 'ann', 'ann', 'ann', 'ann', 'hash', 1)
                    """, arguments: [OpaqueID.make()])
                let ann = db.lastInsertedRowID
                for id in ids {
                    try db.execute(sql: """
                        INSERT INTO conversations (public_id, kind, title, owner_id, created_ts, last_activity_ts)
                        VALUES (?, 'group', 'g', ?, 1000, 1000)
                        """, arguments: [id, ann])
                    try db.execute(
                        sql: "INSERT INTO members (conversation_id, user_id, position, joined_ts) VALUES (?, ?, 1, 1000)",
                        arguments: [db.lastInsertedRowID, ann])
                }
                for (conversation, seq) in [(1, 1), (2, 1), (1, 2)] {
                    try db.execute(sql: """
                        INSERT INTO messages (public_id, conversation_id, seq, sender_id, text, ts, client_id)
                        VALUES (?, ?, ?, ?, 'm', 2000, ?)
                        """, arguments: [OpaqueID.make(), conversation, seq, ann, "c\(conversation)-\(seq)"])
                    try db.execute(
                        sql: "UPDATE conversations SET last_seq = ?, last_activity_ts = 2000 WHERE id = ?", arguments: [seq, conversation])
                }
            }
            try queue.close()
        }
        let store = try SQLiteChatStore(path: database.path)
        let ann = try #require(try await store.account(handleKey: "ann"))
        // Newest first: the first conversation (its second message came last),
        // then the second, then the third (only created).
        #expect(try await store.conversations(of: ann.key, limit: 10, after: nil).conversations.map(\.id) == [ids[0], ids[1], ids[2]])
        let paged = try await ConversationListTests.allPages(store, of: ann.key, limit: 1).flatMap(\.conversations).map(\.id)
        #expect(paged == [ids[0], ids[1], ids[2]])
        try await store.send("new", to: ids[2], from: ann)
        #expect(try await store.conversations(of: ann.key, limit: 10, after: nil).conversations.map(\.id) == [ids[2], ids[0], ids[1]])
        try await store.close()
    }

    @Test("search, contacts, typing and presence queries use indexes", arguments: [
        ("search by handle", "SELECT id FROM users WHERE handle_key >= 'al' AND handle_key < 'am' ORDER BY handle_key, handle_key LIMIT 20"),
        ("search by display name", "SELECT id FROM users WHERE display_key >= 'al' AND display_key < 'am' ORDER BY display_key, handle_key LIMIT 20"),
        ("blocks of a user", "SELECT blocked_id FROM blocks WHERE blocker_id = 1"),
        ("blocks of a user, the other way", "SELECT blocker_id FROM blocks WHERE blocked_id = 1"),
        ("conversations of a user", "SELECT conversation_id FROM members WHERE user_id = 1"),
        ("activity at a snapshot", "SELECT activity FROM messages WHERE conversation_id = 1 AND activity <= 9 ORDER BY seq DESC LIMIT 1"),
        ("the blocks between a user and a conversation's members", """
            SELECT b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocker_id = 1 AND b.blocked_id = m.user_id
            WHERE m.conversation_id = 2
            UNION ALL
            SELECT b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocked_id = 1 AND b.blocker_id = m.user_id
            WHERE m.conversation_id = 2
            """),
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
