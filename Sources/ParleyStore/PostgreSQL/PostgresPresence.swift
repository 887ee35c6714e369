import Logging
import ParleyCore
import PostgresNIO

/// Who is online across the nodes sharing a database: `cluster_presence`
/// has a row (user, node, sessions) while that node has any session of the
/// user, counting them for the limit per user, and `cluster_nodes` says
/// when each node last beat.
///
/// Each change of one user's rows takes a lock on that user first
/// (`pg_advisory_xact_lock`, which gives the transaction no id), so the
/// transaction id comes after the lock: one user's presence changes are
/// written to `cluster_events` in the order they were decided, and every
/// node, this one included, delivers them in that order (their rows carry
/// `PostgresEventLog.everyNode`). Nobody is told "online" after "offline"
/// when a phone leaves one node as a laptop joins another.
enum PostgresPresence {
    /// The first half of the two-int advisory lock keys, which do not
    /// overlap the one-bigint keys of migrations and upkeep.
    static let lockClass: Int32 = 0x7072_6573

    /// How many users one transaction gives up (as many locks).
    static let batch = 200

    /// Says that `node` is alive: whether its row was still there (false:
    /// it was given up) and whether any other node has a row.
    static func beat(node: String, _ db: PostgresConnection) async throws -> (registered: Bool, othersSeen: Bool) {
        var registered = try await db.exists("UPDATE cluster_nodes SET heartbeat = now() WHERE node = \(node) RETURNING 1")
        if !registered {
            try await db.run("INSERT INTO cluster_nodes (node) VALUES (\(node)) ON CONFLICT (node) DO UPDATE SET heartbeat = now()")
            registered = false
        }
        let others = try await db.exists("SELECT 1 FROM cluster_nodes WHERE node != \(node) LIMIT 1")
        return (registered, others)
    }

    /// Waits (at most `silenceLimit` + a beat) until every other live node
    /// has beaten since `node` registered, and one beat more: each has then
    /// seen its row (`ClusterAudience`) and writes its events to the log.
    static func waitUntilKnown(node: String, _ db: PostgresConnection) async throws {
        guard let registered = try await db.row("SELECT clock_timestamp()::text")?.decode(String.self) else { return }
        let deadline = ContinuousClock.now + .milliseconds(PresenceRule.silenceLimit + PresenceRule.heartbeat)
        while ContinuousClock.now < deadline {
            let unaware = try await db.exists(
                """
                SELECT 1 FROM cluster_nodes
                WHERE node != \(node) AND heartbeat > now() - make_interval(secs => \(Double(PresenceRule.silenceLimit) / 1000))
                    AND heartbeat < \(registered)::timestamptz + make_interval(secs => \(Double(PresenceRule.heartbeat) / 1000))
                """)
            guard unaware else { return }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Records this node's count of the user's sessions, inside the
    /// caller's transaction: as many as fit beside the other nodes'
    /// (`SessionAllowance`), which it returns. Logs `onlineChanged` if the
    /// change is news (and returns it). `logged`: whether other nodes may
    /// read the log; if not, nothing is written there and the caller
    /// delivers the event here itself.
    static func record(
        _ account: Account, sessions wanted: Int, admitted: Int, limit: Int, node: String, logged: Bool, at ts: Millis,
        _ db: PostgresConnection
    ) async throws -> (granted: Int, news: ChatEvent?) {
        let user = account.key.rawValue
        try await db.run("SELECT pg_advisory_xact_lock(\(lockClass), \(lockObject(user)))")
        let elsewhere = try await db.row(
            "SELECT COALESCE(sum(sessions), 0)::int8 FROM cluster_presence WHERE user_id = \(user) AND node != \(node)"
        )?.decode(Int64.self) ?? 0
        let granted = SessionAllowance.granted(wants: wanted, admitted: admitted, elsewhere: Int(elsewhere), limit: limit)
        let changedHere: Bool
        if granted > 0 {
            // xmax is 0 on a row this statement inserted, not on one it updated.
            changedHere = try await db.row(
                """
                INSERT INTO cluster_presence (user_id, node, sessions) VALUES (\(user), \(node), \(granted))
                ON CONFLICT (user_id, node) DO UPDATE SET sessions = EXCLUDED.sessions RETURNING xmax = 0
                """
            )?.decode(Bool.self) ?? false
        } else {
            changedHere = try await db.exists("DELETE FROM cluster_presence WHERE user_id = \(user) AND node = \(node) RETURNING 1")
        }
        guard PresenceRule.isNews(changedHere: changedHere, onlineElsewhere: elsewhere > 0) else { return (granted, nil) }
        let online = granted > 0
        if !online {
            try await db.run("UPDATE users SET last_seen_ts = GREATEST(COALESCE(last_seen_ts, 0), \(ts)) WHERE id = \(user)")
        }
        let event = ChatEvent.onlineChanged(
            account, online: online, lastSeenTS: online ? nil : ts, contacts: try await PostgresRows.contacts(of: account.key, db))
        if logged { try await PostgresEventLog.append([event], node: PostgresEventLog.everyNode, now: ts, db) }
        return (granted, event)
    }

    /// Nodes to give up: silent too long, or gone from `cluster_nodes`
    /// while rows of theirs remain.
    static func silentNodes(besides node: String, _ db: PostgresConnection) async throws -> [String] {
        try await db.rows(
            """
            SELECT node FROM cluster_nodes
            WHERE heartbeat < now() - make_interval(secs => \(Double(PresenceRule.silenceLimit) / 1000)) AND node != \(node)
            UNION
            SELECT DISTINCT p.node FROM cluster_presence p
            WHERE NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node = p.node) AND p.node != \(node)
            """
        ).map { try $0.decode(String.self) }
    }

    /// Gives up one batch of `node`'s users in the caller's transaction and
    /// returns the events logged; nil once none are left. For a silent node (`silent`) its
    /// `cluster_nodes` row goes first, under the row's lock, so that if it
    /// was only slow its next beat finds the row gone and records its users
    /// again; a node that beat since (a fresh row) is left alone. A node
    /// leaving (its own close) removes its row at the end.
    static func giveUpBatch(of node: String, silent: Bool, logged: Bool, at ts: Millis, _ db: PostgresConnection) async throws -> [ChatEvent]? {
        if silent {
            try await db.run(
                """
                DELETE FROM cluster_nodes
                WHERE node = \(node) AND heartbeat < now() - make_interval(secs => \(Double(PresenceRule.silenceLimit) / 1000))
                """)
            if try await db.exists("SELECT 1 FROM cluster_nodes WHERE node = \(node)") { return nil }
        }
        let users = try await db.rows(
            "SELECT user_id FROM cluster_presence WHERE node = \(node) ORDER BY user_id LIMIT \(batch)"
        ).map { try $0.decode(Int64.self) }
        guard !users.isEmpty else {
            if !silent { try await db.run("DELETE FROM cluster_nodes WHERE node = \(node)") }
            return nil
        }
        // In key order, so that two sweeps cannot wait on each other.
        try await db.run(
            """
            SELECT pg_advisory_xact_lock(\(lockClass), k) FROM (
                SELECT DISTINCT (u % 2147483647)::int AS k FROM unnest(\(users)::bigint[]) AS u ORDER BY 1) keys
            """)
        let gone = try await db.rows(
            "DELETE FROM cluster_presence WHERE node = \(node) AND user_id = ANY(\(users)) RETURNING user_id"
        ).map { try $0.decode(Int64.self) }
        let offline = try await db.rows(
            """
            UPDATE users SET last_seen_ts = GREATEST(COALESCE(last_seen_ts, 0), \(ts))
            WHERE id = ANY(\(gone)) AND NOT EXISTS (SELECT 1 FROM cluster_presence p WHERE p.user_id = users.id)
            RETURNING \(unescaped: PostgresRows.accountColumns)
            """
        ).map(PostgresRows.account)
        var events: [ChatEvent] = []
        for account in offline {
            events.append(.onlineChanged(account, online: false, lastSeenTS: ts, contacts: try await PostgresRows.contacts(of: account.key, db)))
        }
        if logged { try await PostgresEventLog.append(events, node: PostgresEventLog.everyNode, now: ts, db) }
        return events
    }

    /// The lock's second half: users whose keys agree modulo 2³¹ − 1 share
    /// a lock, which only serializes them.
    static func lockObject(_ user: Int64) -> Int32 { Int32(user % 2_147_483_647) }
}
