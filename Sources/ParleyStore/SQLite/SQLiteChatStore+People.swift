import GRDB
import ParleyCore

/// Search, presence and blocks.
extension SQLiteChatStore {
    public func searchUsers(prefix: String, limit: Int) async throws -> [User] {
        let successor = SearchKey.prefixSuccessor(prefix)
        return try await pool.read { db in
            // Two index range scans, each stopping at `limit` rows.
            func matches(_ column: String) throws -> [Account] {
                let upper = successor == nil ? "" : " AND \(column) < ?"
                var arguments: StatementArguments = [prefix]
                if let successor { arguments += [successor] }
                arguments += [limit]
                return try Row.fetchAll(
                    db.cachedStatement(sql: """
                        SELECT \(Rows.accountColumns) FROM users
                        WHERE \(column) >= ?\(upper) AND erased_ts IS NULL ORDER BY \(column), handle_key LIMIT ?
                        """),
                    arguments: arguments
                ).map(Rows.account)
            }
            var seen = Set<UserKey>()
            var users: [User] = []
            for account in try matches("handle_key") + matches("display_key") where users.count < limit {
                if seen.insert(account.key).inserted { users.append(account.user) }
            }
            return users
        }
    }

    public func presence(of userIDs: [String], viewer: UserKey) async throws -> [PresenceView] {
        try await pool.read { db in
            try userIDs.compactMap { id in
                guard let account = try Rows.account(publicID: id, db) else { return nil }
                return try Self.presenceView(of: account, viewer: viewer, db)
            }
        }
    }

    public func presence(ofHandleKey handleKey: String, viewer: UserKey) async throws -> PresenceView? {
        try await pool.read { db in
            guard let account = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(Rows.accountColumns) FROM users WHERE handle_key = ?"),
                arguments: [handleKey]
            ).map(Rows.account) else { return nil }
            return try Self.presenceView(of: account, viewer: viewer, db)
        }
    }

    private static func presenceView(of account: Account, viewer: UserKey, _ db: Database) throws -> PresenceView {
        let lastSeen = try Millis?.fetchOne(
            db.cachedStatement(sql: "SELECT last_seen_ts FROM users WHERE id = ?"), arguments: [account.key.rawValue]) ?? nil
        let visible = try account.key == viewer
            || Visibility.seesPresence(
                of: account.key, viewer: viewer, shareConversation: Rows.sharesConversation(account.key, with: viewer, db),
                blocks: Rows.blocks(between: account.key, viewer, db))
        return PresenceView(account: account, visible: visible, lastSeenTS: lastSeen)
    }

    public func contacts(of user: UserKey) async throws -> [UserKey] {
        try await pool.read { db in
            let coMembers = try Int64.fetchAll(
                db.cachedStatement(sql: """
                    SELECT DISTINCT y.user_id FROM members x JOIN members y ON y.conversation_id = x.conversation_id
                    WHERE x.user_id = ?1 AND y.user_id != ?1
                        AND x.standing = \(Rows.acceptedCode) AND y.standing != \(Rows.declinedCode)
                    """),
                arguments: [user.rawValue]
            ).map(UserKey.init)
            return Visibility.contacts(of: user, coMembers: coMembers, blocks: try Rows.blocks(involving: user, db))
        }
    }

    public func recordLastSeen(_ user: UserKey, at ts: Millis) async throws {
        try await lane.perform { db, _ in
            try db.execute(
                sql: "UPDATE users SET last_seen_ts = MAX(COALESCE(last_seen_ts, 0), ?) WHERE id = ?", arguments: [ts, user.rawValue])
        }
    }

    // One node only (the database file is locked to this process), whose
    // hub counts every session: each change it reports is news, and there
    // are no other nodes to beat for or to give up.

    public var countsSessionsAcrossNodes: Bool { false }

    public func recordSessions(_ account: Account, count: Int, admitted: Int, limit: Int, at ts: Millis) async throws -> Int {
        let online = count > 0
        if !online { try await recordLastSeen(account.key, at: ts) }
        let contacts = try await contacts(of: account.key)
        broker.publish(.onlineChanged(account, online: online, lastSeenTS: online ? nil : ts, contacts: contacts))
        return count
    }

    public func heartbeat() async throws -> Bool { true }

    public func expireSilentNodes() async throws -> Int { 0 }

    public func recordBan(_ user: UserKey, until: Millis) async throws {
        let now = self.now()
        let effective = try await lane.perform { db, _ in
            try Int64.fetchOne(
                db,
                sql: """
                    INSERT INTO bans (user_id, until_ts, created_ts) VALUES (?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET until_ts = MAX(until_ts, excluded.until_ts)
                    RETURNING until_ts
                    """,
                arguments: [user.rawValue, until, now])
        }
        broker.publish(.userBanned(user, until: effective ?? until))
    }

    public func liftBan(_ user: UserKey, at now: Millis) async throws -> Bool {
        let lifted = try await lane.perform { db, _ in
            try db.execute(sql: "DELETE FROM bans WHERE user_id = ? AND until_ts > ?", arguments: [user.rawValue, now])
            return db.changesCount > 0
        }
        if lifted { broker.publish(.banLifted(user)) }
        return lifted
    }

    public func activeBans(at now: Millis) async throws -> [UserKey: Millis] {
        try await pool.read { db in
            var bans: [UserKey: Millis] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT user_id, until_ts FROM bans WHERE until_ts > ?", arguments: [now]) {
                bans[UserKey(row[0])] = row[1]
            }
            return bans
        }
    }

    public func block(_ blocker: Account, userID: String) async throws -> BlockChange {
        let now = self.now()
        let limits = self.limits
        return try await changeBlock(blocker, userID) { subject, db in
            try BlockPolicy.checkBlock(by: blocker.key, of: subject.key)
            try db.execute(
                sql: "INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, created_ts) VALUES (?, ?, ?)",
                arguments: [blocker.key.rawValue, subject.key.rawValue, now])
            guard db.changesCount > 0 else { return false }
            let count = try Int.fetchOne(
                db.cachedStatement(sql: "SELECT COUNT(*) FROM blocks WHERE blocker_id = ?"), arguments: [blocker.key.rawValue]) ?? 0
            // Thrown inside the savepoint: the insert is undone.
            try BlockPolicy.checkCount(count, limits: limits)
            return true
        }
    }

    public func unblock(_ blocker: Account, userID: String) async throws -> BlockChange {
        try await changeBlock(blocker, userID) { subject, db in
            try db.execute(
                sql: "DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?", arguments: [blocker.key.rawValue, subject.key.rawValue])
            return db.changesCount > 0
        }
    }

    /// Runs a block change in the lane, so that the lane's cached state of
    /// the pair's direct conversation changes in the same transaction.
    private func changeBlock(
        _ blocker: Account, _ userID: String, _ change: @escaping @Sendable (Account, Database) throws -> Bool
    ) async throws -> BlockChange {
        try await lane.perform { db, cache in
            guard let subject = try Rows.account(publicID: userID, db) else { throw ChatError.userNotFound }
            let changed = try change(subject, db)
            if changed { try cache.blocksChanged(between: blocker.key, subject.key, db) }
            return BlockChange(
                subject: subject, changed: changed, shareConversation: try Rows.sharesConversation(blocker.key, with: subject.key, db))
        }
    }

    public func blockedUsers(of user: UserKey) async throws -> [User] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT u.id, u.public_id, u.handle, u.display_name, u.bot FROM blocks b JOIN users u ON u.id = b.blocked_id
                    WHERE b.blocker_id = ? ORDER BY b.created_ts DESC, u.handle_key
                    """),
                arguments: [user.rawValue]
            ).map { Rows.account($0).user }
        }
    }

    public func typingRecipients(conversationID: String, typer: UserKey) async throws -> [UserKey] {
        try await pool.read { db in
            guard let key = try Rows.conversationKey(publicID: conversationID, member: typer, db) else {
                throw ChatError.conversationNotFound
            }
            var standing = Standing.accepted
            var listeners: [UserKey] = []
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT user_id, standing, declined_ts FROM members WHERE conversation_id = ?"), arguments: [key])
            {
                let member = UserKey(row[0])
                let memberStanding = Rows.standing(code: row[1], declinedTS: row[2])
                if member == typer { standing = memberStanding }
                if !memberStanding.isDeclined { listeners.append(member) }
            }
            return Visibility.typingRecipients(
                typer: typer, standing: standing, listeners: listeners,
                blocks: try Rows.blocks(involving: typer, inConversation: key, db))
        }
    }
}
