import Logging
import NIOCore
import ParleyCore
import PostgresNIO

/// The `cluster_events` table: how the nodes sharing a database hear of
/// each other's events.
///
/// A node writes the events of a change in the change's own transaction,
/// one row per transaction (so an event exists exactly when its change
/// committed, and a batch of 2,000 messages costs one row), and wakes the
/// others with one `NOTIFY` per transaction (NOTIFY takes a database-wide
/// lock at commit). Readers go through the
/// table in `(tx, id)` order, `tx` being the writing transaction's id, and
/// only as far as the oldest transaction still running
/// (`pg_snapshot_xmin`): every transaction below that has ended, so no row
/// can appear behind a reader's cursor later. That is what makes a lost
/// notification, a dropped listening connection or a busy node harmless:
/// the next read starts from the cursor. Ids come from a sequence and are
/// not commit order; neither is `tx`, which is why readers put messages
/// back in seq order per conversation (`MessageOrder`).
enum PostgresEventLog {
    static let channel = "parley_events"

    /// The node of rows every node delivers, the writer's included: those
    /// whose order across nodes matters more than a few milliseconds
    /// (`PostgresPresence`).
    static let everyNode = ""

    /// How long events are kept: longer than any node takes to read them.
    static let retention: Millis = 5 * 60_000
    static let partitionMillis: Millis = 60_000

    /// Where a reader is: the last row it has handed on.
    struct Cursor: Sendable, Equatable {
        var tx: UInt64
        var id: Int64
    }

    struct Row: Sendable {
        let cursor: Cursor
        let node: String
        let body: ByteBuffer
    }

    /// Writes `events` inside the caller's transaction, as one row, and the
    /// one notification that wakes the other nodes at its commit.
    static func append(_ events: [ChatEvent], node: String, now: Millis, _ db: PostgresConnection) async throws {
        guard !events.isEmpty else { return }
        let body = ChatEventCodec.encode(events)
        // One round trip for both.
        try await db.run(
            """
            WITH logged AS (INSERT INTO cluster_events (node, created_ts, body) VALUES (\(node), \(now), \(body)) RETURNING id)
            SELECT pg_notify(\(channel), '') FROM logged
            """)
    }

    /// Where a reader starting now begins, the rows at or after that place
    /// it must skip (those already committed, seen in the same snapshot,
    /// which happened before it started), and who is online on some node
    /// in that snapshot (what the skipped and earlier presence rows said).
    /// The horizon is cluster-wide, so a transaction of another database
    /// can hold it back and leave committed rows above it.
    static func start(_ db: PostgresConnection) async throws -> Start {
        try await db.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        let rows = try await db.rows(
            """
            SELECT s.horizon::text, e.id FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) s
            LEFT JOIN cluster_events e ON e.tx >= s.horizon
            """)
        let online = try await db.rows(
            """
            SELECT \(unescaped: PostgresRows.accountColumns) FROM users
            WHERE id IN (SELECT user_id FROM cluster_presence)
            """
        ).map(PostgresRows.account)
        try await db.run("COMMIT")
        var horizon: UInt64 = 0
        var skip = Set<Int64>()
        for row in rows {
            let (text, id) = try row.decode((String, Int64?).self)
            horizon = UInt64(text) ?? 0
            if let id { skip.insert(id) }
        }
        return Start(cursor: Cursor(tx: horizon, id: 0), skip: skip, online: online)
    }

    struct Start: Sendable {
        let cursor: Cursor
        let skip: Set<Int64>
        let online: [Account]
    }

    /// The rows after `cursor` that no running transaction can still come
    /// before, in order, at most `limit`; and whether there are later ones
    /// waiting for an older transaction to end (read again soon).
    ///
    /// One statement, so one snapshot gives both the horizon and the rows:
    /// every transaction below the horizon has ended in that snapshot, so
    /// its rows are all in it.
    static func read(after cursor: Cursor, limit: Int, _ db: PostgresConnection) async throws -> (rows: [Row], waiting: Bool) {
        let found = try await db.rows(
            """
            SELECT h.horizon::text, e.tx::text, e.id, e.node, e.body
            FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) h
            LEFT JOIN LATERAL (
                SELECT tx, id, node, body FROM cluster_events
                WHERE (tx, id) > (\(String(cursor.tx))::xid8, \(cursor.id))
                ORDER BY tx, id LIMIT \(limit + 1)
            ) e ON true
            ORDER BY e.tx, e.id
            """)
        var rows: [Row] = []
        var waiting = false
        for row in found {
            let (horizonText, txText, id, node, body) = try row.decode((String, String?, Int64?, String?, ByteBuffer?).self)
            guard let horizon = UInt64(horizonText), let txText, let tx = UInt64(txText), let id, let node, let body else { break }
            guard tx < horizon else {
                waiting = true
                break
            }
            guard rows.count < limit else { break }
            rows.append(Row(cursor: Cursor(tx: tx, id: id), node: node, body: body))
        }
        return (rows, waiting || rows.count == limit)
    }

    /// Makes the partitions of the next minutes and drops those older than
    /// `retention`. Any node may run it at any time; nodes take turns.
    static func maintain(now: Millis, _ db: PostgresConnection, logger: Logger) async throws {
        let current = now / partitionMillis
        try await PostgresTransaction.run(on: db, logger: logger) { db in
            try await db.run("SELECT pg_advisory_xact_lock(\(maintenanceLockKey))")
            for minute in current...(current + 3) {
                let name = partitionName(minute)
                try await db.run(
                    PostgresQuery(
                        unsafeSQL: """
                            CREATE TABLE IF NOT EXISTS \(name) PARTITION OF cluster_events
                            FOR VALUES FROM (\(minute * partitionMillis)) TO (\((minute + 1) * partitionMillis))
                            """))
            }
            let partitions = try await db.rows(
                """
                SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'cluster_events'::regclass
                """)
            let oldest = (now - retention) / partitionMillis
            for row in partitions {
                let name = try row.decode(String.self)
                guard let minute = minute(of: name), minute < oldest else { continue }
                try await db.run(PostgresQuery(unsafeSQL: "DROP TABLE \(name)"))
            }
            try await db.run("DELETE FROM cluster_events_default WHERE created_ts < \(now - retention)")
        }
    }

    static let maintenanceLockKey: Int64 = 0x7061_726c_6579_0002

    static func partitionName(_ minute: Int64) -> String { "cluster_events_m\(minute)" }

    static func minute(of partition: String) -> Int64? {
        guard partition.hasPrefix("cluster_events_m") else { return nil }
        return Int64(partition.dropFirst("cluster_events_m".count))
    }
}

/// How this node puts the events of a change into the log, in the change's
/// own transaction (the write lane's commits, revocations, bans), while
/// another node may read them.
struct PostgresEventLogWriter: Sendable {
    let node: String
    let audience: ClusterAudience
    let now: @Sendable () -> Millis
    /// A transaction failed in a way that leaves its outcome unknown (the
    /// connection died around COMMIT): it may have committed, unheard here.
    let commitsUncertain: @Sendable () -> Void

    func write(_ reports: [CommitReport], _ db: PostgresConnection) async throws {
        guard audience.othersMayRead else { return }
        var events: [ChatEvent] = []
        for report in reports { report.collectEvents(into: &events) }
        try await PostgresEventLog.append(events, node: node, now: now(), db)
    }

    func write(_ events: [ChatEvent], _ db: PostgresConnection) async throws {
        guard audience.othersMayRead else { return }
        try await PostgresEventLog.append(events, node: node, now: now(), db)
    }
}
