import ParleyCore
import PostgresNIO

/// The PostgreSQL write lane's memory of conversations: their hot state
/// (`ConversationState`), checked against `conversations.state_version`
/// under the row lock each write takes, since other processes may change
/// who is in a conversation. The last seq and times are always taken from
/// the locked row, never from memory.
///
/// Confined to the lane's one task; never touched elsewhere, hence
/// `@unchecked Sendable`. Dropped whole after a failed transaction.
final class PostgresLaneCache: @unchecked Sendable {
    private var byPublicID: [String: ConversationState] = [:]
    private let capacity: Int
    /// The last activity stamp this process gave out; read from the
    /// database on first use and after a failure.
    private var lastActivity: Int64?

    init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    /// What the cache knows of a conversation, fresh or not.
    func cached(publicID: String) -> ConversationState? { byPublicID[publicID] }

    /// The row key of a conversation, from memory or the database; nil for
    /// one that does not exist.
    func key(publicID: String, _ db: PostgresConnection) async throws -> Int64? {
        if let state = byPublicID[publicID] { return state.key }
        guard OpaqueID.isWellFormed(publicID) else { return nil }
        return try await db.row("SELECT id FROM conversations WHERE public_id = \(publicID)")?.decode(Int64.self)
    }

    /// Locks a conversation's row for the rest of the transaction and
    /// returns its state, read again if another writer changed it. Nil if
    /// there is no such conversation.
    func lock(publicID: String, _ db: PostgresConnection) async throws -> ConversationState? {
        guard let key = try await key(publicID: publicID, db) else { return nil }
        return try await lock(keys: [key], db)[key]
    }

    /// Locks conversations' rows, in key order (so that two writers locking
    /// overlapping sets cannot deadlock), and returns their current states.
    func lock(keys: [Int64], _ db: PostgresConnection) async throws -> [Int64: ConversationState] {
        var states: [Int64: ConversationState] = [:]
        var stale: [(Int64, String, String, Int64?, Int64)] = []
        for try await row in try await db.execute(PostgresLaneStatements.LockConversations(keys: keys), logger: PostgresLog.queries) {
            let (key, publicID, kind, owner, lastSeq, lastActivityTS, activity, version) = row
            if let state = byPublicID[publicID], state.version == version {
                state.lastSeq = lastSeq
                state.lastActivityTS = lastActivityTS
                state.activity = activity
                states[key] = state
            } else {
                stale.append((key, publicID, kind, owner, version))
                states[key] = ConversationState(
                    key: key, publicID: publicID, kind: ConversationKind(rawValue: kind) ?? .group, owner: owner.map(UserKey.init),
                    lastSeq: lastSeq, lastActivityTS: lastActivityTS, activity: activity, members: [], lastPosition: 0,
                    blocks: BlockSet(), standings: [:])
            }
        }
        if !stale.isEmpty {
            try await load(stale.compactMap { states[$0.0] }, versions: Dictionary(uniqueKeysWithValues: stale.map { ($0.0, $0.4) }), db)
        }
        return states
    }

    /// Reads the members, standings and blocks of conversations whose
    /// rows this transaction has locked, and remembers them.
    private func load(_ states: [ConversationState], versions: [Int64: Int64], _ db: PostgresConnection) async throws {
        let keys = states.map(\.key)
        var byKey = Dictionary(uniqueKeysWithValues: states.map { ($0.key, $0) })
        for row in try await db.rows("""
            SELECT conversation_id, user_id, position, standing, declined_ts FROM members
            WHERE conversation_id = ANY(\(keys)) ORDER BY conversation_id, position
            """)
        {
            let (key, user, position, code, declinedTS) = try row.decode((Int64, Int64, Int64, Int16, Int64?).self)
            guard let state = byKey[key] else { continue }
            state.members.append(UserKey(user))
            state.lastPosition = position
            let standing = Rows.standing(code: Int(code), declinedTS: declinedTS)
            if standing != .accepted { state.standings[UserKey(user)] = standing }
        }
        for row in try await db.rows("""
            SELECT m.conversation_id, b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocker_id = m.user_id
            JOIN members n ON n.conversation_id = m.conversation_id AND n.user_id = b.blocked_id
            WHERE m.conversation_id = ANY(\(keys))
            """)
        {
            let (key, blocker, blocked) = try row.decode((Int64, Int64, Int64).self)
            byKey[key]?.blocks.insert(blocker: UserKey(blocker), blocked: UserKey(blocked))
        }
        if byPublicID.count + states.count > capacity { byPublicID.removeAll(keepingCapacity: true) }
        for state in states {
            state.version = versions[state.key] ?? 0
            byPublicID[state.publicID] = state
        }
        byKey.removeAll()
    }

    /// Records that this transaction changed a locked conversation's members
    /// or standings: its version moves on, so other processes read it again.
    /// The caller updates `state` itself; it is kept once the transaction commits.
    func bumpVersion(of state: ConversationState, _ db: PostgresConnection) async throws {
        state.version = try await db.row("""
            UPDATE conversations SET state_version = state_version + 1 WHERE id = \(state.key) RETURNING state_version
            """
        )?.decode(Int64.self) ?? state.version + 1
    }

    /// After blocks between the two changed: every conversation they share
    /// is locked (in key order) and its version moved on, for this process
    /// and for others.
    func blocksChanged(between a: UserKey, _ b: UserKey, _ db: PostgresConnection) async throws {
        let shared = try await db.rows("""
            SELECT x.conversation_id FROM members x JOIN members y ON y.conversation_id = x.conversation_id AND y.user_id = \(b.rawValue)
            WHERE x.user_id = \(a.rawValue) ORDER BY x.conversation_id
            """
        ).map { try $0.decode(Int64.self) }
        guard !shared.isEmpty else { return }
        for (key, state) in try await lock(keys: shared, db) {
            state.blocks = try await PostgresRows.blocks(amongMembersOf: key, db)
            try await bumpVersion(of: state, db)
        }
    }

    /// The stamp of an activity happening now: each one this process gives
    /// out is greater than the one before, and than any stamp in the
    /// database when it started (see `ActivityOrder`).
    func nextActivity(now: Millis, _ db: PostgresConnection) async throws -> Int64 {
        let last: Int64
        if let known = lastActivity {
            last = known
        } else {
            last = try await db.row("SELECT COALESCE(MAX(activity), 0) FROM conversations")?.decode(Int64.self) ?? 0
        }
        let next = ActivityOrder.next(after: last, now: now)
        lastActivity = next
        return next
    }

    /// Forgets everything: after a transaction failed, memory may hold
    /// what rolled back.
    func reset() {
        byPublicID.removeAll()
        lastActivity = nil
    }
}
