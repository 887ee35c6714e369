import GRDB
import ParleyCore

/// Decoding rows into domain values, shared by reads and lane jobs.
enum Rows {
    /// A user's columns, in the order `account(_:)` reads them.
    static let accountColumns = "id, public_id, handle, display_name, bot"

    static func account(_ row: Row) -> Account {
        Account(key: UserKey(row[0]), user: User(id: row[1], handle: row[2], displayName: row[3], bot: row[4]))
    }

    static func account(publicID: String, _ db: Database) throws -> Account? {
        guard OpaqueID.isWellFormed(publicID) else { return nil }
        return try Row.fetchOne(
            // An erased account is no one to find: not by its old tokens, not to add.
            db.cachedStatement(sql: "SELECT \(Rows.accountColumns) FROM users WHERE public_id = ? AND erased_ts IS NULL"),
            arguments: [publicID]
        ).map(account)
    }

    /// The row key of a conversation, if `member` belongs to it and did not
    /// decline it: a declined conversation is out of the member's sight.
    static func conversationKey(publicID: String, member: UserKey, _ db: Database) throws -> Int64? {
        guard OpaqueID.isWellFormed(publicID) else { return nil }
        return try Int64.fetchOne(
            db.cachedStatement(sql: """
                SELECT c.id FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = ?
                WHERE c.public_id = ? AND m.standing != \(declinedCode)
                """),
            arguments: [member.rawValue, publicID])
    }

    // MARK: Roles

    /// `members.role`: an admin; anything else is a member (the owner is
    /// `conversations.owner_id`).
    static let adminCode = 1

    /// The role of `user` in a conversation, nil if they are not a member.
    static func role(of user: UserKey, in state: LaneCache.ConversationState, _ db: Database) throws -> MemberRole? {
        guard state.members.contains(user) else { return nil }
        let code = try Int.fetchOne(
            db.cachedStatement(sql: "SELECT role FROM members WHERE conversation_id = ? AND user_id = ?"),
            arguments: [state.key, user.rawValue]) ?? 0
        return MembershipPolicy.role(of: user, owner: state.owner, isAdmin: code == adminCode, kind: state.kind)
    }

    // MARK: Standing

    static let acceptedCode = 0
    static let requestCode = 1
    static let declinedCode = 2

    /// Reads `members.standing` and `members.declined_ts`.
    static func standing(code: Int, declinedTS: Millis?) -> Standing {
        switch code {
        case requestCode: .request
        case declinedCode: .declined(since: declinedTS ?? 0)
        default: .accepted
        }
    }

    /// The `members.standing` and `members.declined_ts` of a standing.
    static func columns(of standing: Standing) -> (code: Int, declinedTS: Millis?) {
        switch standing {
        case .accepted: (acceptedCode, nil)
        case .request: (requestCode, nil)
        case .declined(let since): (declinedCode, since)
        }
    }

    static func setStanding(_ standing: Standing, of user: UserKey, inConversation key: Int64, _ db: Database) throws {
        let (code, declinedTS) = columns(of: standing)
        try db.cachedStatement(sql: "UPDATE members SET standing = ?, declined_ts = ? WHERE conversation_id = ? AND user_id = ?")
            .execute(arguments: [code, declinedTS, key, user.rawValue])
    }

    /// Whether `subject` accepted a conversation that `other` is in and did
    /// not decline: then `other` sees `subject`'s presence, and is no
    /// stranger to them when bringing them into a conversation.
    static func sharesConversation(_ subject: UserKey, with other: UserKey, _ db: Database) throws -> Bool {
        try Bool.fetchOne(
            db.cachedStatement(sql: """
                SELECT EXISTS (
                    SELECT 1 FROM members x JOIN members y ON y.conversation_id = x.conversation_id AND y.user_id = ?2
                    WHERE x.user_id = ?1 AND x.standing = \(acceptedCode) AND y.standing != \(declinedCode))
                """),
            arguments: [subject.rawValue, other.rawValue]) ?? false
    }

    /// The members of a conversation who see `subject`'s presence through
    /// another conversation, one `subject` accepted.
    static func seers(of subject: UserKey, amongMembersOf key: Int64, _ db: Database) throws -> Set<UserKey> {
        Set(try Int64.fetchAll(
            db.cachedStatement(sql: """
                SELECT DISTINCT y.user_id FROM members x JOIN members y ON y.conversation_id = x.conversation_id
                WHERE x.user_id = ?1 AND x.standing = \(acceptedCode) AND y.standing != \(declinedCode) AND y.user_id != ?1
                    AND y.user_id IN (SELECT user_id FROM members WHERE conversation_id = ?2)
                """),
            arguments: [subject.rawValue, key]
        ).map(UserKey.init))
    }

    /// Messages after `seq` in a conversation from senders `reader` blocked.
    static func unreadFromBlocked(conversation key: Int64, after seq: Int64, reader: UserKey, _ db: Database) throws -> Int64 {
        try Int64.fetchOne(
            db.cachedStatement(sql: """
                SELECT COUNT(*) FROM messages
                WHERE conversation_id = ? AND seq > ? AND sender_id IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?)
                """),
            arguments: [key, seq, reader.rawValue]) ?? 0
    }

    static let messageColumns = "SELECT m.public_id, ?, m.seq, u.id, u.public_id, u.handle, u.display_name, m.text, m.ts, m.client_id, u.bot, m.deleted"
    static let messageSource = "FROM messages m JOIN users u ON u.id = m.sender_id"

    /// Reads a row selected with `messageColumns` (whose first parameter is
    /// the conversation's public id).
    static func message(_ row: Row) -> Message {
        Message(
            id: row[0], conversationID: row[1], seq: row[2],
            sender: User(id: row[4], handle: row[5], displayName: row[6], bot: row[10]),
            text: row[7], ts: row[8], clientID: row[9], deleted: row[11])
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

    /// The blocks among the members of a conversation, with who blocked whom.
    static func blocks(amongMembersOf key: Int64, _ db: Database) throws -> BlockSet {
        try blockSet(
            db.cachedStatement(sql: """
                SELECT b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocker_id = m.user_id
                WHERE m.conversation_id = ?1 AND b.blocked_id IN (SELECT user_id FROM members WHERE conversation_id = ?1)
                """),
            [key])
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
        let kind = ConversationKind(rawValue: row[1]) ?? .group
        let ownerKey = (row[3] as Int64?).map(UserKey.init)
        let blocks = try Rows.blocks(amongMembersOf: key, db)
        let members = try Row.fetchAll(
            db.cachedStatement(sql: """
                SELECT u.id, u.public_id, u.handle, u.display_name, u.bot, m.read_seq, m.standing, m.declined_ts, m.role
                FROM members m JOIN users u ON u.id = m.user_id
                WHERE m.conversation_id = ? ORDER BY m.position
                """),
            arguments: [key]
        ).map { row in
            let account = Rows.account(row)
            let readSeq: Int64 = row[5]
            let standing = Rows.standing(code: row[6], declinedTS: row[7])
            let fromBlocked = blocks.hasBlocks(by: account.key)
                ? try unreadFromBlocked(conversation: key, after: readSeq, reader: account.key, db) : 0
            return Member(
                account: account, readSeq: readSeq, standing: standing, unreadFromBlocked: fromBlocked,
                seenElsewhereBy: standing == .accepted ? [] : try seers(of: account.key, amongMembersOf: key, db),
                role: MembershipPolicy.role(of: account.key, owner: ownerKey, isAdmin: row[8] as Int == adminCode, kind: kind))
        }
        let lastSeq: Int64 = row[4]
        let lastMessage = lastSeq == 0 ? nil : try Row.fetchOne(
            db.cachedStatement(sql: "\(messageColumns) \(messageSource) WHERE m.conversation_id = ? AND m.seq = ?"),
            arguments: [publicID, key, lastSeq]
        ).map(message)
        return Conversation(
            id: publicID,
            kind: kind,
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
