import ParleyCore
import PostgresNIO

/// Reading domain values from PostgreSQL, shared by reads and lane jobs:
/// the PostgreSQL side of `Rows`, with the same queries where SQL allows.
enum PostgresRows {
    static let accountColumns = "id, public_id, handle, display_name, bot"

    static func account(_ row: PostgresRow) throws -> Account {
        let (key, publicID, handle, displayName, bot) = try row.decode((Int64, String, String, String, Int16).self)
        return Account(key: UserKey(key), user: User(id: publicID, handle: handle, displayName: displayName, bot: bot != 0))
    }

    static func account(publicID: String, _ db: PostgresConnection) async throws -> Account? {
        guard OpaqueID.isWellFormed(publicID) else { return nil }
        // An erased account is no one to find: not by its old tokens, not to add.
        return try await db.row(
            "SELECT \(unescaped: PostgresRows.accountColumns) FROM users WHERE public_id = \(publicID) AND erased_ts IS NULL"
        ).map(account)
    }

    static func account(handleKey: String, _ db: PostgresConnection) async throws -> Account? {
        try await db.row("SELECT \(unescaped: PostgresRows.accountColumns) FROM users WHERE handle_key = \(handleKey)").map(account)
    }

    /// Who sees `user`'s presence (`ChatStore.contacts(of:)`).
    static func contacts(of user: UserKey, _ db: PostgresConnection) async throws -> [UserKey] {
        let coMembers = try await db.rows("""
            SELECT DISTINCT y.user_id FROM members x JOIN members y ON y.conversation_id = x.conversation_id
            WHERE x.user_id = \(user.rawValue) AND y.user_id != \(user.rawValue)
                AND x.standing = \(Int16(Rows.acceptedCode)) AND y.standing != \(Int16(Rows.declinedCode))
            """
        ).map { UserKey(try $0.decode(Int64.self)) }
        return Visibility.contacts(of: user, coMembers: coMembers, blocks: try await PostgresRows.blocks(involving: user, db))
    }

    /// The row key of a conversation, if `member` belongs to it and did not
    /// decline it: a declined conversation is out of the member's sight.
    static func conversationKey(publicID: String, member: UserKey, _ db: PostgresConnection) async throws -> Int64? {
        guard OpaqueID.isWellFormed(publicID) else { return nil }
        return try await db.row("""
            SELECT c.id FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = \(member.rawValue)
            WHERE c.public_id = \(publicID) AND m.standing != \(Rows.declinedCode)
            """
        ).map { try $0.decode(Int64.self) }
    }

    static func setStanding(_ standing: Standing, of user: UserKey, inConversation key: Int64, _ db: PostgresConnection) async throws {
        let (code, declinedTS) = Rows.columns(of: standing)
        try await db.run("""
            UPDATE members SET standing = \(Int16(code)), declined_ts = \(declinedTS)
            WHERE conversation_id = \(key) AND user_id = \(user.rawValue)
            """)
    }

    /// See `Rows.sharesConversation`.
    static func sharesConversation(_ subject: UserKey, with other: UserKey, _ db: PostgresConnection) async throws -> Bool {
        try await db.exists("""
            SELECT 1 FROM members x JOIN members y ON y.conversation_id = x.conversation_id AND y.user_id = \(other.rawValue)
            WHERE x.user_id = \(subject.rawValue) AND x.standing = \(Int16(Rows.acceptedCode)) AND y.standing != \(Int16(Rows.declinedCode))
            LIMIT 1
            """)
    }

    /// See `Rows.seers`.
    static func seers(of subject: UserKey, amongMembersOf key: Int64, _ db: PostgresConnection) async throws -> Set<UserKey> {
        Set(try await db.rows("""
            SELECT DISTINCT y.user_id FROM members x JOIN members y ON y.conversation_id = x.conversation_id
            WHERE x.user_id = \(subject.rawValue) AND x.standing = \(Int16(Rows.acceptedCode))
                AND y.standing != \(Int16(Rows.declinedCode)) AND y.user_id != \(subject.rawValue)
                AND y.user_id IN (SELECT user_id FROM members WHERE conversation_id = \(key))
            """
        ).map { UserKey(try $0.decode(Int64.self)) })
    }

    /// Messages after `seq` in a conversation from senders `reader` blocked.
    static func unreadFromBlocked(conversation key: Int64, after seq: Int64, reader: UserKey, _ db: PostgresConnection) async throws -> Int64 {
        try await db.row("""
            SELECT COUNT(*) FROM messages
            WHERE conversation_id = \(key) AND seq > \(seq)
                AND sender_id IN (SELECT blocked_id FROM blocks WHERE blocker_id = \(reader.rawValue))
            """
        )?.decode(Int64.self) ?? 0
    }

    /// Columns of a message with its sender, from `messageSource`.
    static let messageColumns = "m.public_id, m.seq, u.id, u.public_id, u.handle, u.display_name, m.text, m.ts, m.client_id, u.bot, m.deleted"
    static let messageSource = "FROM messages m JOIN users u ON u.id = m.sender_id"

    static func message(_ row: PostgresRow, conversationID: String) throws -> Message {
        let (publicID, seq, _, senderID, handle, displayName, text, ts, clientID, bot, deleted) =
            try row.decode((String, Int64, Int64, String, String, String, String, Int64, String, Int16, Int16).self)
        return Message(
            id: publicID, conversationID: conversationID, seq: seq,
            sender: User(id: senderID, handle: handle, displayName: displayName, bot: bot != 0), text: text, ts: ts, clientID: clientID,
            deleted: deleted != 0)
    }

    // MARK: Blocks

    /// The blocks between two people, either way.
    static func blocks(between a: UserKey, _ b: UserKey, _ db: PostgresConnection) async throws -> BlockSet {
        try await blockSet(db.rows("""
            SELECT blocker_id, blocked_id FROM blocks
            WHERE (blocker_id = \(a.rawValue) AND blocked_id = \(b.rawValue)) OR (blocker_id = \(b.rawValue) AND blocked_id = \(a.rawValue))
            """))
    }

    /// The blocks between `user` and anyone, either way.
    static func blocks(involving user: UserKey, _ db: PostgresConnection) async throws -> BlockSet {
        try await blockSet(db.rows("""
            SELECT blocker_id, blocked_id FROM blocks WHERE blocker_id = \(user.rawValue)
            UNION ALL SELECT blocker_id, blocked_id FROM blocks WHERE blocked_id = \(user.rawValue)
            """))
    }

    /// The blocks between `user` and the other members of a conversation, either way.
    static func blocks(involving user: UserKey, inConversation key: Int64, _ db: PostgresConnection) async throws -> BlockSet {
        try await blockSet(db.rows("""
            SELECT b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocker_id = \(user.rawValue) AND b.blocked_id = m.user_id
            WHERE m.conversation_id = \(key)
            UNION ALL
            SELECT b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocked_id = \(user.rawValue) AND b.blocker_id = m.user_id
            WHERE m.conversation_id = \(key)
            """))
    }

    /// The blocks among the members of a conversation, with who blocked whom.
    static func blocks(amongMembersOf key: Int64, _ db: PostgresConnection) async throws -> BlockSet {
        try await blockSet(db.rows("""
            SELECT b.blocker_id, b.blocked_id FROM members m JOIN blocks b ON b.blocker_id = m.user_id
            WHERE m.conversation_id = \(key) AND b.blocked_id IN (SELECT user_id FROM members WHERE conversation_id = \(key))
            """))
    }

    private static func blockSet(_ rows: [PostgresRow]) throws -> BlockSet {
        var blocks = BlockSet()
        for row in rows {
            let (blocker, blocked) = try row.decode((Int64, Int64).self)
            blocks.insert(blocker: UserKey(blocker), blocked: UserKey(blocked))
        }
        return blocks
    }

    // MARK: Conversations

    /// The role of `user` in a conversation whose row this transaction
    /// locked, nil if they are not a member.
    static func role(of user: UserKey, in state: ConversationState, _ db: PostgresConnection) async throws -> MemberRole? {
        guard state.members.contains(user) else { return nil }
        let code = try await db.row(
            "SELECT role FROM members WHERE conversation_id = \(state.key) AND user_id = \(user.rawValue)")?.decode(Int16.self) ?? 0
        return MembershipPolicy.role(of: user, owner: state.owner, isAdmin: Int(code) == Rows.adminCode, kind: state.kind)
    }

    static func conversation(key: Int64, _ db: PostgresConnection) async throws -> Conversation {
        guard let row = try await db.row("""
            SELECT public_id, kind, title, owner_id, last_seq, created_ts, last_activity_ts FROM conversations WHERE id = \(key)
            """)
        else { throw ChatError.conversationNotFound }
        let (publicID, kind, title, ownerID, lastSeq, createdTS, lastActivityTS) =
            try row.decode((String, String, String?, Int64?, Int64, Int64, Int64).self)
        let blocks = try await blocks(amongMembersOf: key, db)
        var members: [Member] = []
        for row in try await db.rows("""
            SELECT u.id, u.public_id, u.handle, u.display_name, u.bot, m.read_seq, m.standing, m.declined_ts, m.role
            FROM members m JOIN users u ON u.id = m.user_id
            WHERE m.conversation_id = \(key) ORDER BY m.position
            """)
        {
            let (userKey, userID, handle, displayName, bot, readSeq, code, declinedTS, role) =
                try row.decode((Int64, String, String, String, Int16, Int64, Int16, Int64?, Int16).self)
            let account = Account(key: UserKey(userKey), user: User(id: userID, handle: handle, displayName: displayName, bot: bot != 0))
            let standing = Rows.standing(code: Int(code), declinedTS: declinedTS)
            let fromBlocked = blocks.hasBlocks(by: account.key)
                ? try await unreadFromBlocked(conversation: key, after: readSeq, reader: account.key, db) : 0
            members.append(Member(
                account: account, readSeq: readSeq, standing: standing, unreadFromBlocked: fromBlocked,
                seenElsewhereBy: standing == .accepted ? [] : try await seers(of: account.key, amongMembersOf: key, db),
                role: MembershipPolicy.role(
                    of: account.key, owner: ownerID.map(UserKey.init), isAdmin: Int(role) == Rows.adminCode,
                    kind: ConversationKind(rawValue: kind) ?? .group)))
        }
        let lastMessage = lastSeq == 0 ? nil : try await db.row("""
            SELECT \(unescaped: messageColumns) \(unescaped: messageSource) WHERE m.conversation_id = \(key) AND m.seq = \(lastSeq)
            """
        ).map { try message($0, conversationID: publicID) }
        let ownerKey = ownerID.map(UserKey.init)
        return Conversation(
            id: publicID,
            kind: ConversationKind(rawValue: kind) ?? .group,
            title: title,
            owner: members.first { $0.account.key == ownerKey }?.account.user,
            members: members,
            lastSeq: lastSeq,
            lastMessage: lastMessage,
            createdTS: createdTS,
            lastActivityTS: lastActivityTS,
            blocks: blocks)
    }
}
