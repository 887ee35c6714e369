import ParleyCore
import PostgresNIO

/// Search, presence and blocks.
extension PostgresChatStore {
    public func searchUsers(prefix: String, limit: Int) async throws -> [User] {
        let successor = SearchKey.prefixSuccessor(prefix)
        return try await read { db in
            // Two index range scans, each stopping at `limit` rows.
            func matches(_ column: String) async throws -> [Account] {
                let rows: [PostgresRow]
                if let successor {
                    rows = try await db.rows("""
                        SELECT \(unescaped: PostgresRows.accountColumns) FROM users
                        WHERE \(unescaped: column) >= \(prefix) AND \(unescaped: column) < \(successor) AND erased_ts IS NULL
                        ORDER BY \(unescaped: column), handle_key LIMIT \(limit)
                        """)
                } else {
                    rows = try await db.rows("""
                        SELECT \(unescaped: PostgresRows.accountColumns) FROM users
                        WHERE \(unescaped: column) >= \(prefix) AND erased_ts IS NULL ORDER BY \(unescaped: column), handle_key LIMIT \(limit)
                        """)
                }
                return try rows.map(PostgresRows.account)
            }
            var seen = Set<UserKey>()
            var users: [User] = []
            for account in try await matches("handle_key") + matches("display_key") where users.count < limit {
                if seen.insert(account.key).inserted { users.append(account.user) }
            }
            return users
        }
    }

    public func presence(of userIDs: [String], viewer: UserKey) async throws -> [PresenceView] {
        try await read { db in
            var views: [PresenceView] = []
            for id in userIDs {
                guard let account = try await PostgresRows.account(publicID: id, db) else { continue }
                views.append(try await Self.presenceView(of: account, viewer: viewer, db))
            }
            return views
        }
    }

    public func presence(ofHandleKey handleKey: String, viewer: UserKey) async throws -> PresenceView? {
        try await read { db in
            guard let account = try await PostgresRows.account(handleKey: handleKey, db) else { return nil }
            return try await Self.presenceView(of: account, viewer: viewer, db)
        }
    }

    private static func presenceView(of account: Account, viewer: UserKey, _ db: PostgresConnection) async throws -> PresenceView {
        let lastSeen = try await db.row("SELECT last_seen_ts FROM users WHERE id = \(account.key.rawValue)")?.decode(Int64?.self) ?? nil
        var visible = account.key == viewer
        if !visible {
            visible = Visibility.seesPresence(
                of: account.key, viewer: viewer,
                shareConversation: try await PostgresRows.sharesConversation(account.key, with: viewer, db),
                blocks: try await PostgresRows.blocks(between: account.key, viewer, db))
        }
        return PresenceView(account: account, visible: visible, lastSeenTS: lastSeen)
    }

    public func contacts(of user: UserKey) async throws -> [UserKey] {
        try await read { db in try await PostgresRows.contacts(of: user, db) }
    }

    public func recordLastSeen(_ user: UserKey, at ts: Millis) async throws {
        try await write { db in
            try await db.run("UPDATE users SET last_seen_ts = GREATEST(COALESCE(last_seen_ts, 0), \(ts)) WHERE id = \(user.rawValue)")
        }
    }

    public func block(_ blocker: Account, userID: String) async throws -> BlockChange {
        let now = self.now()
        let limits = self.limits
        return try await changeBlock(blocker, userID) { subject, db in
            try BlockPolicy.checkBlock(by: blocker.key, of: subject.key)
            guard try await db.exists("""
                INSERT INTO blocks (blocker_id, blocked_id, created_ts) VALUES (\(blocker.key.rawValue), \(subject.key.rawValue), \(now))
                ON CONFLICT DO NOTHING RETURNING 1
                """)
            else { return false }
            let count = try await db.row("SELECT COUNT(*) FROM blocks WHERE blocker_id = \(blocker.key.rawValue)")?.decode(Int64.self) ?? 0
            // Thrown inside the transaction: the insert is undone.
            try BlockPolicy.checkCount(Int(count), limits: limits)
            return true
        }
    }

    public func unblock(_ blocker: Account, userID: String) async throws -> BlockChange {
        try await changeBlock(blocker, userID) { subject, db in
            try await db.exists("""
                DELETE FROM blocks WHERE blocker_id = \(blocker.key.rawValue) AND blocked_id = \(subject.key.rawValue) RETURNING 1
                """)
        }
    }

    /// Runs a block change in the lane, so that the conversations the two
    /// share are read again by every writer (their versions move on).
    private func changeBlock(
        _ blocker: Account, _ userID: String, _ change: @escaping @Sendable (Account, PostgresConnection) async throws -> Bool
    ) async throws -> BlockChange {
        try await lane.perform { db, cache in
            guard let subject = try await PostgresRows.account(publicID: userID, db) else { throw ChatError.userNotFound }
            let changed = try await change(subject, db)
            if changed { try await cache.blocksChanged(between: blocker.key, subject.key, db) }
            return BlockChange(
                subject: subject, changed: changed,
                shareConversation: try await PostgresRows.sharesConversation(blocker.key, with: subject.key, db))
        }
    }

    public func blockedUsers(of user: UserKey) async throws -> [User] {
        try await read { db in
            try await db.rows("""
                SELECT u.id, u.public_id, u.handle, u.display_name, u.bot FROM blocks b JOIN users u ON u.id = b.blocked_id
                WHERE b.blocker_id = \(user.rawValue) ORDER BY b.created_ts DESC, u.handle_key
                """
            ).map { try PostgresRows.account($0).user }
        }
    }

    public func typingRecipients(conversationID: String, typer: UserKey) async throws -> [UserKey] {
        try await read { db in
            guard let key = try await PostgresRows.conversationKey(publicID: conversationID, member: typer, db) else {
                throw ChatError.conversationNotFound
            }
            var standing = Standing.accepted
            var listeners: [UserKey] = []
            for row in try await db.rows("SELECT user_id, standing, declined_ts FROM members WHERE conversation_id = \(key)") {
                let (user, code, declinedTS) = try row.decode((Int64, Int16, Int64?).self)
                let member = UserKey(user)
                let memberStanding = Rows.standing(code: Int(code), declinedTS: declinedTS)
                if member == typer { standing = memberStanding }
                if !memberStanding.isDeclined { listeners.append(member) }
            }
            return Visibility.typingRecipients(
                typer: typer, standing: standing, listeners: listeners,
                blocks: try await PostgresRows.blocks(involving: typer, inConversation: key, db))
        }
    }
}
