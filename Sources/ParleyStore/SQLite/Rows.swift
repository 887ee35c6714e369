import GRDB
import ParleyCore

/// Decoding rows into domain values, shared by reads and lane jobs.
enum Rows {
    static func account(_ row: Row) -> Account {
        Account(key: UserKey(row[0]), user: User(id: row[1], handle: row[2], displayName: row[3]))
    }

    static func account(publicID: String, _ db: Database) throws -> Account? {
        guard OpaqueID.isWellFormed(publicID) else { return nil }
        return try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, public_id, handle, display_name FROM users WHERE public_id = ?"),
            arguments: [publicID]
        ).map(account)
    }

    /// The row key of a conversation, if `member` belongs to it.
    static func conversationKey(publicID: String, member: UserKey, _ db: Database) throws -> Int64? {
        guard OpaqueID.isWellFormed(publicID) else { return nil }
        return try Int64.fetchOne(
            db.cachedStatement(sql: """
                SELECT c.id FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = ?
                WHERE c.public_id = ?
                """),
            arguments: [member.rawValue, publicID])
    }

    static let messageColumns = """
        SELECT m.public_id, ?, m.seq, u.id, u.public_id, u.handle, u.display_name, m.text, m.ts, m.client_id
        FROM messages m JOIN users u ON u.id = m.sender_id
        """

    /// Reads a row selected with `messageColumns` (whose first parameter is
    /// the conversation's public id).
    static func message(_ row: Row) -> Message {
        Message(
            id: row[0], conversationID: row[1], seq: row[2],
            sender: User(id: row[4], handle: row[5], displayName: row[6]),
            text: row[7], ts: row[8], clientID: row[9])
    }

    /// The blocks between two people, either way.
    static func blocks(between a: UserKey, _ b: UserKey, _ db: Database) throws -> BlockSet {
        try blockSet(
            db.cachedStatement(sql: """
                SELECT blocker_id, blocked_id FROM blocks
                WHERE (blocker_id = ?1 AND blocked_id = ?2) OR (blocker_id = ?2 AND blocked_id = ?1)
                """),
            [a.rawValue, b.rawValue])
    }

    /// The blocks between `user` and anyone, either way.
    static func blocks(involving user: UserKey, _ db: Database) throws -> BlockSet {
        try blockSet(
            db.cachedStatement(sql: """
                SELECT blocker_id, blocked_id FROM blocks WHERE blocker_id = ?1
                UNION ALL SELECT blocker_id, blocked_id FROM blocks WHERE blocked_id = ?1
                """),
            [user.rawValue])
    }

    /// The blocks between `user` and the other members of a conversation, either way.
    static func blocks(involving user: UserKey, inConversation key: Int64, _ db: Database) throws -> BlockSet {
        try blockSet(
            db.cachedStatement(sql: """
                SELECT b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocker_id = ?1 AND b.blocked_id = m.user_id
                WHERE m.conversation_id = ?2
                UNION ALL
                SELECT b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocked_id = ?1 AND b.blocker_id = m.user_id
                WHERE m.conversation_id = ?2
                """),
            [user.rawValue, key])
    }

    /// Reads (blocker, blocked) rows.
    private static func blockSet(_ statement: Statement, _ arguments: StatementArguments) throws -> BlockSet {
        var blocks = BlockSet()
        for pair in try Row.fetchAll(statement, arguments: arguments) {
            blocks.insert(blocker: UserKey(pair[0]), blocked: UserKey(pair[1]))
        }
        return blocks
    }

    static func conversation(key: Int64, _ db: Database) throws -> Conversation {
        guard let row = try Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT public_id, kind, title, owner_id, last_seq, created_ts, last_activity_ts
                FROM conversations WHERE id = ?
                """),
            arguments: [key])
        else { throw ChatError.conversationNotFound }
        let publicID: String = row[0]
        let members = try Row.fetchAll(
            db.cachedStatement(sql: """
                SELECT u.id, u.public_id, u.handle, u.display_name, m.read_seq
                FROM members m JOIN users u ON u.id = m.user_id
                WHERE m.conversation_id = ? ORDER BY m.position
                """),
            arguments: [key]
        ).map { Member(account: account($0), readSeq: $0[4]) }
        let ownerKey = (row[3] as Int64?).map(UserKey.init)
        let lastSeq: Int64 = row[4]
        let lastMessage = lastSeq == 0 ? nil : try Row.fetchOne(
            db.cachedStatement(sql: "\(messageColumns) WHERE m.conversation_id = ? AND m.seq = ?"),
            arguments: [publicID, key, lastSeq]
        ).map(message)
        let blocks = try blockSet(
            db.cachedStatement(sql: """
                SELECT b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocker_id = m.user_id
                WHERE m.conversation_id = ?1 AND b.blocked_id IN (SELECT user_id FROM members WHERE conversation_id = ?1)
                """),
            [key])
        return Conversation(
            id: publicID,
            kind: ConversationKind(rawValue: row[1]) ?? .group,
            title: row[2],
            owner: members.first { $0.account.key == ownerKey }?.account.user,
            members: members,
            lastSeq: lastSeq,
            lastMessage: lastMessage,
            createdTS: row[5],
            lastActivityTS: row[6],
            blocks: blocks)
    }
}
