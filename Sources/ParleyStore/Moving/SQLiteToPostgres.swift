import Foundation
import GRDB
import Logging
import ParleyCore
import PostgresNIO

/// `parley migrate`: copies a whole SQLite database into an empty PostgreSQL
/// one, table by table in key order, in batches that each commit on their
/// own. An interrupted copy is resumed by running it again: each table goes
/// on after the highest key already copied (batches commit in key order),
/// and rows already there are skipped, never doubled.
///
/// Until the copy is done and checked, the target carries a mark that keeps
/// servers from starting on it (`PostgresChatStore.open`): a half-copied
/// database must not take writes.
public struct SQLiteToPostgres: Sendable {
    public let source: String
    public let target: PostgresLocation
    public let batchSize: Int

    public init(source: String, target: PostgresLocation, batchSize: Int = 2_000) {
        self.source = source
        self.target = target
        self.batchSize = max(1, batchSize)
    }

    /// The mark of a copy under way; its value names the source.
    static let inProgressMark = "migration-in-progress"
    /// The mark of a copy that finished and was checked.
    static let doneMark = "migration-done"

    /// Copies, then checks; `progress` is told what is happening, a line at
    /// a time. Throws `MoveRefused` for what the operator must fix.
    public func run(progress: @Sendable (String) -> Void) async throws -> MoveSummary {
        guard FileManager.default.fileExists(atPath: source) else {
            throw MoveRefused("there is no SQLite database at \(source)")
        }
        // The lock a server on the file holds: the copy must see the data
        // stand still, or what is written meanwhile would be left behind.
        let lock: DatabaseFileLock
        do {
            lock = try DatabaseFileLock(path: source + ".lock")
        } catch {
            throw MoveRefused("\(source) is in use by a running Parley server: stop it first")
        }
        defer { lock.release() }
        let sqlite = try DatabasePool(path: source)
        defer { try? sqlite.close() }
        // A file from an older Parley is brought up to date first, as a
        // server starting on it would.
        try SQLiteSchema.migrator.migrate(sqlite)
        let fingerprint = try await sqlite.read { db in
            "sqlite:" + (try String.fetchOne(db, sql: "SELECT public_id FROM users ORDER BY id LIMIT 1") ?? "no users")
        }

        let logger = Logger(label: "parley.migrate")
        let postgres: PostgresConnection
        do {
            postgres = try await target.connect(logger: logger, role: "migrate")
        } catch {
            throw MoveRefused("cannot reach PostgreSQL at \(target): \(PostgresFailure.reason(error))")
        }
        do {
            let summary = try await copy(from: sqlite, to: postgres, fingerprint: fingerprint, progress: progress)
            try await postgres.close()
            return summary
        } catch {
            try? await postgres.close()
            throw error
        }
    }

    private func copy(
        from sqlite: DatabasePool, to postgres: PostgresConnection, fingerprint: String, progress: @Sendable (String) -> Void
    ) async throws -> MoveSummary {
        try await PostgresSchema.migrate(postgres, logger: PostgresLog.queries)
        let resuming = try await claim(postgres, fingerprint: fingerprint)
        if resuming == .done {
            progress("\(target.database) already holds a finished copy of this database; checking it again")
        } else {
            progress(resuming == .resumed ? "resuming an interrupted copy into \(target.database)" : "copying \(source) into \(target.database)")
            try await copySigningKey(postgres, progress: progress)
            for table in CopiedTable.all {
                try await copy(table, from: sqlite, to: postgres, progress: progress)
            }
            for table in ["users", "conversations"] {
                // Rows came with their ids: new rows must be numbered after them.
                try await postgres.run(PostgresQuery(unsafeSQL: """
                    SELECT setval(pg_get_serial_sequence('\(table)', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM \(table)
                    """))
            }
        }
        let summary = try await check(sqlite, postgres)
        try await postgres.run("""
            INSERT INTO secrets (name, value, created_ts) VALUES (\(Self.doneMark), \(Data(fingerprint.utf8)), \(SystemClock.millis()))
            ON CONFLICT (name) DO NOTHING
            """)
        try await postgres.run("DELETE FROM secrets WHERE name = \(Self.inProgressMark)")
        progress("done: \(summary)")
        return summary
    }

    private enum Claim { case fresh, resumed, done }

    /// Marks the target as being copied into, if it is empty or already
    /// this source's copy; refuses anything else.
    private func claim(_ postgres: PostgresConnection, fingerprint: String) async throws -> Claim {
        try await PostgresTransaction.run(on: postgres, logger: PostgresLog.queries) { db in
            try await db.run("LOCK TABLE secrets IN EXCLUSIVE MODE")
            var marks: [String: String] = [:]
            for row in try await db.rows("SELECT name, value FROM secrets WHERE name IN (\(Self.inProgressMark), \(Self.doneMark))") {
                let (name, value) = try row.decode((String, Data).self)
                marks[name] = String(decoding: value, as: UTF8.self)
            }
            if let done = marks[Self.doneMark] {
                guard done == fingerprint else { throw MoveRefused("\(target.database) already holds a copy of another database") }
                return .done
            }
            if let underWay = marks[Self.inProgressMark] {
                guard underWay == fingerprint else {
                    throw MoveRefused("\(target.database) holds an unfinished copy of another database: drop and create it again")
                }
                return .resumed
            }
            let used = try await db.row("""
                SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM conversations) OR EXISTS (SELECT 1 FROM tokens)
                """)?.decode(Bool.self) ?? false
            guard !used else { throw MoveRefused("\(target.database) is not empty: migrate into a new, empty database") }
            try await db.run("""
                INSERT INTO secrets (name, value, created_ts) VALUES (\(Self.inProgressMark), \(Data(fingerprint.utf8)), \(SystemClock.millis()))
                """)
            return .fresh
        }
    }

    /// The key that signed the SQLite server's tokens, kept beside the file,
    /// goes with the data: everyone stays signed in.
    private func copySigningKey(_ postgres: PostgresConnection, progress: (String) -> Void) async throws {
        let path = source + ".jwt-key"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            progress("no signing key at \(path): the server on PostgreSQL will make a new one (everyone signs in again)")
            return
        }
        guard let key = Base64URL.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw MoveRefused("\(path) does not hold a valid key")
        }
        try await postgres.run("""
            INSERT INTO secrets (name, value, created_ts) VALUES ('jwt-signing-key', \(Data(key)), \(SystemClock.millis()))
            ON CONFLICT (name) DO NOTHING
            """)
        let stored = try await postgres.row("SELECT value FROM secrets WHERE name = 'jwt-signing-key'")?.decode(Data.self)
        guard stored == Data(key) else { throw MoveRefused("\(target.database) already has another signing key") }
        progress("signing key copied from \(path)")
    }

    private func copy(
        _ table: CopiedTable, from sqlite: DatabasePool, to postgres: PostgresConnection, progress: (String) -> Void
    ) async throws {
        let total = try await sqlite.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table.name)") ?? 0 }
        var after = try await table.lastKey(in: postgres)
        var copied = try await postgres.row(PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM \(table.name)"))?.decode(Int.self) ?? 0
        let rowsPerBatch = min(batchSize, 60_000 / table.columns.count)
        var told = ContinuousClock.now
        while true {
            let from = after
            let rows = try await sqlite.read { db in try table.page(db, after: from, limit: rowsPerBatch) }
            guard let last = rows.last else { break }
            try await postgres.run(table.insert(rows))
            copied += rows.count
            after = table.key(of: last)
            if ContinuousClock.now - told > .seconds(1) {
                progress("\(table.name): \(copied) of \(total)")
                told = ContinuousClock.now
            }
        }
        progress("\(table.name): \(copied) of \(total), copied")
    }

    /// Counts of every table, and each conversation's last seq, on both sides.
    private func check(_ sqlite: DatabasePool, _ postgres: PostgresConnection) async throws -> MoveSummary {
        var counts: [String: Int] = [:]
        for table in CopiedTable.all {
            let there = try await sqlite.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table.name)") ?? 0 }
            let here = try await postgres.row(PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM \(table.name)"))?.decode(Int.self) ?? 0
            guard there == here else { throw MoveRefused("check failed: \(table.name) has \(there) rows in SQLite and \(here) in PostgreSQL") }
            counts[table.name] = here
        }
        let sqliteSeqs = try await sqlite.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.id, c.last_seq, (SELECT COALESCE(MAX(seq), 0) FROM messages m WHERE m.conversation_id = c.id)
                FROM conversations c ORDER BY c.id
                """).map { [$0[0] as Int64, $0[1] as Int64, $0[2] as Int64] }
        }
        let postgresSeqs = try await postgres.rows("""
            SELECT c.id, c.last_seq, (SELECT COALESCE(MAX(seq), 0) FROM messages m WHERE m.conversation_id = c.id)
            FROM conversations c ORDER BY c.id
            """).map { row -> [Int64] in let (a, b, c) = try row.decode((Int64, Int64, Int64).self); return [a, b, c] }
        guard sqliteSeqs == postgresSeqs else {
            let first = zip(sqliteSeqs, postgresSeqs).first { $0 != $1 }
            throw MoveRefused("check failed: the conversations' last seqs differ (SQLite \(first?.0 ?? []), PostgreSQL \(first?.1 ?? []))")
        }
        return MoveSummary(rows: counts)
    }
}

/// What was copied, by table.
public struct MoveSummary: Sendable, CustomStringConvertible {
    public let rows: [String: Int]
    public var description: String {
        CopiedTable.all.map { "\(rows[$0.name] ?? 0) \($0.name)" }.joined(separator: ", ")
            + "; counts and every conversation's last seq match"
    }
}

/// Something the operator has to fix before the copy can go on.
public struct MoveRefused: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
