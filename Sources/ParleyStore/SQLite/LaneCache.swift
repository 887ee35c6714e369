import GRDB
import ParleyCore

/// The hot state of conversations, kept by the write lane so that appending a
/// message needs no read: the last seq, and who the members are.
///
/// Confined to the lane's writer (GRDB's writer queue); never touched
/// elsewhere, hence `@unchecked Sendable`. It is exact because every write to
/// the database goes through the lane; after a failed commit it is dropped.
final class LaneCache: @unchecked Sendable {
    typealias ConversationState = ParleyStore.ConversationState

    private struct ReadMarkKey: Hashable {
        let conversation: Int64
        let user: UserKey
    }

    private var conversations: [String: ConversationState] = [:]
    private var dirtyConversations: [ConversationState] = []
    /// Read marks moved by sending, written once per batch.
    private var dirtyReadMarks: [ReadMarkKey: Int64] = [:]
    private let capacity: Int
    /// The last activity stamp given out; read from the database on first use.
    private var lastActivity: Int64?

    init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    func conversation(publicID: String, _ db: Database) throws -> ConversationState? {
        if let state = conversations[publicID] { return state }
        guard OpaqueID.isWellFormed(publicID) else { return nil }
        guard let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, kind, owner_id, last_seq, last_activity_ts, activity FROM conversations WHERE public_id = ?"),
            arguments: [publicID]
        ) else { return nil }
        let key: Int64 = row[0]
        let members = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT user_id, position, standing, declined_ts FROM members WHERE conversation_id = ? ORDER BY position"),
            arguments: [key]
        )
        let memberKeys = members.map { UserKey($0[0]) }
        var standings: [UserKey: Standing] = [:]
        for member in members {
            let standing = Rows.standing(code: member[2], declinedTS: member[3])
            if standing != .accepted { standings[UserKey(member[0])] = standing }
        }
        let state = ConversationState(
            key: key,
            publicID: publicID,
            kind: ConversationKind(rawValue: row[1]) ?? .group,
            owner: (row[2] as Int64?).map(UserKey.init),
            lastSeq: row[3],
            lastActivityTS: row[4],
            activity: row[5],
            members: memberKeys,
            lastPosition: members.last?[1] ?? 0,
            blocks: try Rows.blocks(amongMembersOf: key, db),
            standings: standings
        )
        conversations[publicID] = state
        return state
    }

    /// After a block or unblock between the two: the cached state of every
    /// conversation they are both in follows.
    func blocksChanged(between a: UserKey, _ b: UserKey, _ db: Database) throws {
        let shared = try String.fetchAll(
            db.cachedStatement(sql: """
                SELECT c.public_id FROM members x JOIN members y ON y.conversation_id = x.conversation_id AND y.user_id = ?
                JOIN conversations c ON c.id = x.conversation_id WHERE x.user_id = ?
                """),
            arguments: [b.rawValue, a.rawValue])
        for publicID in shared {
            guard let state = conversations[publicID] else { continue }
            state.blocks = try Rows.blocks(amongMembersOf: state.key, db)
        }
    }

    /// After a member's standing changed outside the cached state's own
    /// methods: the cached state, if any, follows.
    func standingChanged(conversation publicID: String, user: UserKey, to standing: Standing) {
        conversations[publicID]?.setStanding(standing, of: user)
    }

    /// The stamp of an activity happening now: every one given out is
    /// greater than the one before, in the order the writer takes them.
    func nextActivity(now: Millis, _ db: Database) throws -> Int64 {
        let last = try lastActivity ?? Int64.fetchOne(db, sql: "SELECT MAX(activity) FROM conversations") ?? 0
        let next = ActivityOrder.next(after: last, now: now)
        lastActivity = next
        return next
    }

    /// Records a message appended in the current batch; the conversation row
    /// and the sender's read mark are written once, at the end of the batch.
    func didAppend(to state: ConversationState, seq: Int64, ts: Millis, activity: Int64, sender: UserKey) {
        state.lastSeq = seq
        state.lastActivityTS = ts
        state.activity = activity
        if !state.isDirty {
            state.isDirty = true
            dirtyConversations.append(state)
        }
        dirtyReadMarks[ReadMarkKey(conversation: state.key, user: sender)] = seq
    }

    func flushDirty(_ db: Database) throws {
        if !dirtyConversations.isEmpty {
            let update = try db.cachedStatement(
                sql: "UPDATE conversations SET last_seq = ?, last_activity_ts = ?, activity = ? WHERE id = ?")
            for state in dirtyConversations {
                try update.execute(arguments: [state.lastSeq, state.lastActivityTS, state.activity, state.key])
                state.isDirty = false
            }
            dirtyConversations.removeAll(keepingCapacity: true)
        }
        if !dirtyReadMarks.isEmpty {
            let update = try db.cachedStatement(
                sql: "UPDATE members SET read_seq = MAX(read_seq, ?) WHERE conversation_id = ? AND user_id = ?")
            for (key, seq) in dirtyReadMarks {
                try update.execute(arguments: [seq, key.conversation, key.user.rawValue])
            }
            dirtyReadMarks.removeAll(keepingCapacity: true)
        }
    }

    /// Called at the start of a batch, when nothing is dirty.
    func trimIfLarge() {
        if conversations.count > capacity { conversations.removeAll(keepingCapacity: true) }
    }

    func reset() {
        lastActivity = nil
        conversations.removeAll()
        dirtyConversations.removeAll()
        dirtyReadMarks.removeAll()
    }
}
