import Foundation
import GRDB
import ParleyCore


/// The embedded store: one SQLite file in WAL mode.
///
/// Reads go to GRDB's pool of reader connections and run in parallel with
/// writes. Every write goes through the `WriteLane`, which commits in batches
/// with `synchronous = FULL`: a completion or a returned call means the data
/// is on disk.
public final class SQLiteChatStore: ChatStore {
    let pool: DatabasePool
    let lane: WriteLane
    private let checkpointer: Checkpointer
    private let lock: DatabaseFileLock
    let now: @Sendable () -> Millis
    let limits: ChatLimits
    public let broker: any EventBroker

    /// Opens (creating if needed) the database at `path` and brings its schema
    /// up to date. Refuses to open a file another Parley process is using: the
    /// write lane's cache is exact only if this process is the only writer.
    /// What it commits is published to `broker`.
    public init(
        path: String, limits: ChatLimits = ChatLimits(), now: @escaping @Sendable () -> Millis = SystemClock.millis,
        broker: any EventBroker = LocalBroker()
    ) throws {
        self.lock = try DatabaseFileLock(path: path + ".lock")
        try DatabaseFileMode.restrict(path: path)
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // FULL: a commit is fsynced before it returns, so an ack survives
            // power loss, not only a crash of the process.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(5)
        configuration.maximumReaderCount = 8
        self.pool = try DatabasePool(path: path, configuration: configuration)
        try SQLiteSchema.migrator.migrate(pool)
        self.checkpointer = try Checkpointer(path: path)
        self.lane = try WriteLane(
            pool: pool, cache: LaneCache(), reporter: CommitReporter(broker: broker), checkpointer: checkpointer)
        self.now = now
        self.limits = limits
        self.broker = broker
    }

    public func close() async throws {
        await lane.close()
        await lane.reporter.flush()
        defer { lock.release() }
        try checkpointer.close()
        try pool.close()
    }

    /// How the write lane has batched its work so far.
    public var writeStatistics: WriteStatistics { lane.statistics }

    public func isReachable() async -> Bool {
        (try? await pool.read { try Int.fetchOne($0, sql: "SELECT 1") }) == 1
    }

    /// Checkpoints of the write-ahead log run so far, beside the writer.
    public var checkpoints: Int { checkpointer.checkpoints }

    // MARK: Accounts and tokens

    public func createAccount(_ request: NewAccount) async throws -> Account {
        let now = self.now()
        return try await lane.perform { db, _ in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE handle_key = ?", arguments: [request.handleKey]) == true {
                throw ChatError.conflict("the handle '\(request.handle)' is taken")
            }
            let publicID = OpaqueID.make()
            try db.execute(
                sql: """
                    INSERT INTO users (public_id, handle, handle_key, display_name, display_key, password_hash, created_ts)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    publicID, request.handle, request.handleKey, request.displayName, SearchKey.fold(request.displayName),
                    request.passwordHash, now,
                ])
            return Account(
                key: UserKey(db.lastInsertedRowID),
                user: User(id: publicID, handle: request.handle, displayName: request.displayName))
        }
    }

    public func credentials(handleKey: String) async throws -> StoredCredentials? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Rows.accountColumns), NULLIF(password_hash, '') FROM users WHERE handle_key = ?",
                arguments: [handleKey]
            ).map { StoredCredentials(account: Rows.account($0), passwordHash: $0[5]) }
        }
    }

    public func account(id: String) async throws -> Account? {
        guard OpaqueID.isWellFormed(id) else { return nil }
        return try await pool.read { db in try Rows.account(publicID: id, db) }
    }

    public func account(handleKey: String) async throws -> Account? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Rows.accountColumns) FROM users WHERE handle_key = ?", arguments: [handleKey]
            ).map(Rows.account)
        }
    }

    public func account(externalID: String) async throws -> Account? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Rows.accountColumns) FROM users WHERE external_id = ?", arguments: [externalID]
            ).map(Rows.account)
        }
    }

    public func provisionAccount(_ request: ExternalAccount) async throws -> (account: Account, created: Bool) {
        let now = self.now()
        return try await lane.perform { db, _ in
            for (handle, handleKey) in request.handles {
                if let existing = try Row.fetchOne(
                    db, sql: "SELECT \(Rows.accountColumns) FROM users WHERE external_id = ?",
                    arguments: [request.externalID]
                ) {
                    return (Rows.account(existing), false)
                }
                let publicID = OpaqueID.make()
                let displayName = request.displayName ?? handle
                // No password: '' matches no bcrypt hash (`credentials` reads it as none).
                try db.execute(
                    sql: """
                        INSERT INTO users (public_id, handle, handle_key, display_name, display_key, password_hash, created_ts, external_id, bot)
                        VALUES (?, ?, ?, ?, ?, '', ?, ?, ?) ON CONFLICT DO NOTHING
                        """,
                    arguments: [publicID, handle, handleKey, displayName, SearchKey.fold(displayName), now, request.externalID, request.bot])
                if db.changesCount == 1 {
                    let user = User(id: publicID, handle: handle, displayName: displayName, bot: request.bot)
                    return (Account(key: UserKey(db.lastInsertedRowID), user: user), true)
                }
            }
            throw ChatError.conflict("no free handle for this user")
        }
    }

    public func updateAccount(
        _ user: UserKey, handle: (handle: String, key: String)?, displayName: String?, bot: Bool?
    ) async throws -> Account {
        let account = try await lane.perform { db, _ in
            if let handle, try Bool.fetchOne(
                db, sql: "SELECT 1 FROM users WHERE handle_key = ? AND id != ?", arguments: [handle.key, user.rawValue]) == true {
                throw ChatError.conflict("the handle '\(handle.handle)' is taken")
            }
            try db.execute(
                sql: """
                    UPDATE users SET handle = COALESCE(?, handle), handle_key = COALESCE(?, handle_key),
                        display_name = COALESCE(?, display_name), display_key = COALESCE(?, display_key), bot = COALESCE(?, bot)
                    WHERE id = ?
                    """,
                arguments: [handle?.handle, handle?.key, displayName, displayName.map(SearchKey.fold), bot, user.rawValue])
            guard let row = try Row.fetchOne(
                db, sql: "SELECT \(Rows.accountColumns) FROM users WHERE id = ?", arguments: [user.rawValue]) else {
                throw ChatError.userNotFound
            }
            return Rows.account(row)
        }
        broker.publish(.accountChanged(account))
        return account
    }

    public func recordToken(_ token: TokenRecord) async throws {
        try await lane.perform { db, _ in
            try db.execute(
                // Ignored if there: a product token is recorded when revoked, maybe twice at once.
                sql: "INSERT INTO tokens (id, user_id, issued_ts, expires_ts) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [token.id, token.user.rawValue, token.issuedTS, token.expiresTS])
        }
    }

    public func recordLoginCode(_ code: LoginCodeRecord) async throws {
        try await lane.perform { db, _ in
            try db.execute(
                sql: "UPDATE login_codes SET used_ts = ? WHERE email = ? AND user_id IS ? AND used_ts IS NULL",
                arguments: [code.createdTS, code.email, code.purpose.userKey])
            // Old codes are of no use to anyone: a day after they ended, gone.
            try db.execute(sql: "DELETE FROM login_codes WHERE expires_ts < ?", arguments: [code.createdTS - 86_400_000])
            try db.execute(
                sql: "INSERT INTO login_codes (email, user_id, code_hash, created_ts, expires_ts) VALUES (?, ?, ?, ?, ?)",
                arguments: [code.email, code.purpose.userKey, code.codeHash, code.createdTS, code.expiresTS])
        }
    }

    public func redeemLoginCode(
        email: String, codeHash: String, purpose: LoginCodeRecord.Purpose, at now: Millis, maxTries: Int,
        handles: [(handle: String, key: String)]
    ) async throws -> (account: Account, created: Bool)? {
        try await lane.perform { db, _ in
            guard let row = try Row.fetchOne(
                db, sql: """
                    SELECT id, code_hash, tries FROM login_codes
                    WHERE email = ? AND user_id IS ? AND used_ts IS NULL AND expires_ts > ? ORDER BY id DESC LIMIT 1
                    """,
                arguments: [email, purpose.userKey, now])
            else { return nil }
            let id: Int64 = row[0]
            let tries: Int = row[2] + 1
            let right = (row[1] as String) == codeHash && tries <= maxTries
            // A right code, or the last try, ends the code.
            try db.execute(
                sql: "UPDATE login_codes SET tries = ?, used_ts = CASE WHEN ? OR ? >= ? THEN ? ELSE used_ts END WHERE id = ?",
                arguments: [tries, right, tries, maxTries, now, id])
            guard right else { return nil }
            switch purpose {
            case .signIn:
                if let account = try Row.fetchOne(
                    db, sql: "SELECT \(Rows.accountColumns) FROM users WHERE email = ? AND erased_ts IS NULL", arguments: [email]) {
                    return (Rows.account(account), false)
                }
                for (handle, key) in handles {
                    let publicID = OpaqueID.make()
                    try db.execute(
                        sql: """
                            INSERT INTO users (public_id, handle, handle_key, display_name, display_key, password_hash, created_ts, email)
                            VALUES (?, ?, ?, ?, ?, '', ?, ?) ON CONFLICT DO NOTHING
                            """,
                        arguments: [publicID, handle, key, handle, SearchKey.fold(handle), now, email])
                    if db.changesCount == 1 {
                        return (Account(key: UserKey(db.lastInsertedRowID), user: User(id: publicID, handle: handle, displayName: handle)), true)
                    }
                }
                throw ChatError.conflict("no free handle for this user")
            case .link(let user):
                if try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM users WHERE email = ? AND id != ?", arguments: [email, user.rawValue]) == true {
                    throw ChatError.conflict("that address belongs to another account")
                }
                try db.execute(sql: "UPDATE users SET email = ? WHERE id = ?", arguments: [email, user.rawValue])
                guard let account = try Row.fetchOne(
                    db, sql: "SELECT \(Rows.accountColumns) FROM users WHERE id = ?", arguments: [user.rawValue]) else {
                    throw ChatError.userNotFound
                }
                return (Rows.account(account), false)
            }
        }
    }

    public func email(of user: UserKey) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT email FROM users WHERE id = ?", arguments: [user.rawValue])
        }
    }

    public func pendingLinkEmail(of user: UserKey, at now: Millis) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT email FROM login_codes WHERE user_id = ? AND used_ts IS NULL AND expires_ts > ? ORDER BY id DESC LIMIT 1",
                arguments: [user.rawValue, now])
        }
    }

    public func revokeToken(id: String) async throws -> Bool {
        let now = self.now()
        let user = try await lane.perform { db, _ in
            try Int64.fetchOne(
                db, sql: "UPDATE tokens SET revoked_ts = COALESCE(revoked_ts, ?) WHERE id = ? RETURNING user_id", arguments: [now, id])
        }
        guard let user else { return false }
        broker.publish(.tokenRevoked(user: UserKey(user), tokenID: id))
        return true
    }

    public func revokedTokenIDs() async throws -> [String] {
        let now = self.now()
        return try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT id FROM tokens WHERE revoked_ts IS NOT NULL AND expires_ts > ?", arguments: [now])
        }
    }

    // MARK: Conversations

    public func openDirect(
        between owner: Account, andUserID otherID: String, introducedBy introducer: Introducer
    ) async throws -> (conversation: Conversation, created: Bool) {
        let now = self.now()
        let requests = ChatRequestPolicy.applies(enabled: limits.chatRequests, introducer: introducer)
        return try await lane.perform(publishing: { db, cache in
            guard let other = try Rows.account(publicID: otherID, db) else { throw ChatError.userNotFound }
            try DirectConversationPolicy.checkOpen(between: owner.key, and: other.key, blocks: Rows.blocks(between: owner.key, other.key, db))
            let directKey = DirectKey.of(owner.key, other.key)
            if let key = try Int64.fetchOne(db, sql: "SELECT id FROM conversations WHERE direct_key = ?", arguments: [directKey]) {
                return try Self.reopen(key, by: owner, cache, db)
            }
            let standing = ChatRequestPolicy.standing(
                of: other.key, broughtBy: owner.key, sharesAcceptedConversation: try Rows.sharesConversation(other.key, with: owner.key, db),
                enabled: requests)
            let key = try Self.insertConversation(
                kind: .direct, title: nil, owner: nil, directKey: directKey, members: [(owner.key, .accepted), (other.key, standing)],
                now: now, cache, db)
            let conversation = try Rows.conversation(key: key, db)
            return ((conversation, true), Publication(conversation: key, event: .conversationCreated(conversation)))
        })
    }

    /// Opening a direct conversation that exists: one the opener had not
    /// accepted (a request, or declined) is accepted by opening it.
    private static func reopen(
        _ key: Int64, by opener: Account, _ cache: LaneCache, _ db: Database
    ) throws -> ((conversation: Conversation, created: Bool), Publication?) {
        let before = try Rows.conversation(key: key, db)
        guard before.standing(of: opener.key) != .accepted else { return ((before, false), nil) }
        try Rows.setStanding(.accepted, of: opener.key, inConversation: key, db)
        let conversation = try Rows.conversation(key: key, db)
        cache.standingChanged(conversation: conversation.id, user: opener.key, to: .accepted)
        let change = MembershipChange(kind: .accepted, conversation: conversation, subject: opener)
        return ((conversation, false), Publication(conversation: key, event: .membershipChanged(change)))
    }

    public func createGroup(
        owner: Account, title: String, memberIDs: [String], introducedBy introducer: Introducer
    ) async throws -> Conversation {
        let now = self.now()
        let requests = ChatRequestPolicy.applies(enabled: limits.chatRequests, introducer: introducer)
        return try await lane.perform(publishing: { db, cache in
            var members: [(UserKey, Standing)] = [(owner.key, .accepted)]
            for id in memberIDs {
                guard let account = try Rows.account(publicID: id, db) else {
                    throw ChatError.notFound("user '\(id)' not found")
                }
                guard !members.contains(where: { $0.0 == account.key }) else { continue }
                members.append((account.key, try Self.newcomerStanding(account.key, broughtBy: owner.key, requests: requests, db)))
            }
            let key = try Self.insertConversation(
                kind: .group, title: title, owner: owner.key, directKey: nil, members: members, now: now, cache, db)
            let conversation = try Rows.conversation(key: key, db)
            return (conversation, Publication(conversation: key, event: .conversationCreated(conversation)))
        })
    }

    /// How someone brought into a group stands: refused across a block,
    /// a request from a stranger when chat requests are on.
    private static func newcomerStanding(_ subject: UserKey, broughtBy actor: UserKey, requests: Bool, _ db: Database) throws -> Standing {
        try BlockPolicy.checkBringIn(subject, by: actor, blocks: Rows.blocks(between: actor, subject, db))
        return ChatRequestPolicy.standing(
            of: subject, broughtBy: actor, sharesAcceptedConversation: try Rows.sharesConversation(subject, with: actor, db),
            enabled: requests)
    }

    private static func insertConversation(
        kind: ConversationKind, title: String?, owner: UserKey?, directKey: String?, members: [(UserKey, Standing)], now: Millis,
        _ cache: LaneCache, _ db: Database
    ) throws -> Int64 {
        let activity = try cache.nextActivity(now: now, db)
        try db.execute(
            sql: """
                INSERT INTO conversations
                    (public_id, kind, title, owner_id, direct_key, created_ts, last_activity_ts, created_activity, activity)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [OpaqueID.make(), kind.rawValue, title, owner?.rawValue, directKey, now, now, activity, activity])
        let key = db.lastInsertedRowID
        let insertMember = try db.cachedStatement(
            sql: "INSERT INTO members (conversation_id, user_id, position, joined_ts, read_seq, standing) VALUES (?, ?, ?, ?, 0, ?)")
        for (index, (member, standing)) in members.enumerated() {
            try insertMember.execute(arguments: [key, member.rawValue, index + 1, now, Rows.columns(of: standing).code])
        }
        return key
    }

    public func conversation(id: String, viewer: UserKey) async throws -> Conversation {
        try await pool.read { db in
            guard let key = try Rows.conversationKey(publicID: id, member: viewer, db) else {
                throw ChatError.conversationNotFound
            }
            return try Rows.conversation(key: key, db)
        }
    }

    public func conversation(id: String) async throws -> Conversation? {
        guard OpaqueID.isWellFormed(id) else { return nil }
        return try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT id FROM conversations WHERE public_id = ?", arguments: [id]).map { try Rows.conversation(key: $0, db) }
        }
    }

    public func conversations(of viewer: UserKey, limit: Int, after cursor: ConversationCursor?) async throws -> ConversationPage {
        try await pool.read { db in
            let rows: [Row]
            let snapshot: Int64
            if let cursor {
                snapshot = cursor.snapshot
                // Each conversation's activity as it was at the snapshot: the
                // stamp of its last message then (stamps grow with seq), or
                // of its creation; conversations created since are left out.
                rows = try Row.fetchAll(
                    db.cachedStatement(sql: """
                        SELECT c.id, c.public_id,
                            COALESCE(
                                (SELECT x.activity FROM messages x WHERE x.conversation_id = c.id AND x.activity <= ?1
                                    ORDER BY x.seq DESC LIMIT 1),
                                c.created_activity) AS activity_then
                        FROM members m JOIN conversations c ON c.id = m.conversation_id
                        WHERE m.user_id = ?2 AND m.standing != \(Rows.declinedCode) AND c.created_activity <= ?1
                            AND (activity_then < ?3 OR (activity_then = ?3 AND c.public_id < ?4))
                        ORDER BY activity_then DESC, c.public_id DESC LIMIT ?5
                        """),
                    arguments: [cursor.snapshot, viewer.rawValue, cursor.activity, cursor.conversationID, limit + 1])
            } else {
                rows = try Row.fetchAll(
                    db.cachedStatement(sql: """
                        SELECT c.id, c.public_id, c.activity FROM members m JOIN conversations c ON c.id = m.conversation_id
                        WHERE m.user_id = ? AND m.standing != \(Rows.declinedCode)
                        ORDER BY c.activity DESC, c.public_id DESC LIMIT ?
                        """),
                    arguments: [viewer.rawValue, limit + 1])
                // The newest activity the viewer can see: anything committed
                // after this read takes a greater stamp.
                snapshot = rows.first?[2] ?? 0
            }
            let page = try rows.prefix(limit).map { try Rows.conversation(key: $0[0], db) }
            let next = rows.count > limit ? rows[limit - 1] : nil
            return ConversationPage(
                conversations: page,
                nextCursor: next.map { ConversationCursor(snapshot: snapshot, activity: $0[2], conversationID: $0[1]) })
        }
    }

    public func readMarks(of user: UserKey) async throws -> [ReadMark] {
        try await pool.read { db in
            // Counting messages from blocked senders costs a scan of the
            // unread ones: only for users who block someone.
            let blocksSomeone = try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ?)"), arguments: [user.rawValue]) ?? false
            return try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT c.public_id, c.last_seq, m.read_seq, m.standing,
                        CASE WHEN ?2 THEN (
                            SELECT COUNT(*) FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.read_seq
                                AND x.sender_id IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?1)
                        ) ELSE 0 END
                    FROM members m JOIN conversations c ON c.id = m.conversation_id
                    WHERE m.user_id = ?1 AND m.standing != \(Rows.declinedCode)
                    ORDER BY c.activity DESC
                    """),
                arguments: [user.rawValue, blocksSomeone]
            ).map {
                ReadMark(
                    conversationID: $0[0], lastSeq: $0[1], readSeq: $0[2], unreadFromBlocked: $0[4],
                    isRequest: $0[3] == Rows.requestCode)
            }
        }
    }

    public func addMember(
        conversationID: String, actor: UserKey, userID: String, role: MemberRole, introducedBy introducer: Introducer
    ) async throws -> MembershipChange {
        let now = self.now()
        let limits = self.limits
        let requests = ChatRequestPolicy.applies(enabled: limits.chatRequests, introducer: introducer)
        return try await lane.perform(publishing: { db, cache in
            let state = try Self.memberState(conversationID, actor, cache, db)
            try MembershipPolicy.checkAdd(kind: state.kind, actorRole: try Rows.role(of: actor, in: state, db) ?? .member)
            guard let subject = try Rows.account(publicID: userID, db) else { throw ChatError.userNotFound }
            guard try MembershipPolicy.addition(of: subject.key, to: state.members, limits: limits) == .add else {
                return (MembershipChange(kind: .unchanged, conversation: try Rows.conversation(key: state.key, db), subject: subject), nil)
            }
            let standing = try Self.newcomerStanding(subject.key, broughtBy: actor, requests: requests, db)
            return try Self.insertMember(subject, standing: standing, role: role, into: state, now: now, db)
        })
    }

    /// A newcomer starts with nothing unread; the history stays readable.
    private static func insertMember(
        _ subject: Account, standing: Standing, role: MemberRole, into state: LaneCache.ConversationState, now: Millis, _ db: Database
    ) throws -> (MembershipChange, Publication?) {
        try db.execute(
            sql: "INSERT INTO members (conversation_id, user_id, position, joined_ts, read_seq, standing, role) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                state.key, subject.key.rawValue, state.lastPosition + 1, now, state.lastSeq, Rows.columns(of: standing).code,
                role == .admin ? Rows.adminCode : 0,
            ])
        let conversation = try Rows.conversation(key: state.key, db)
        state.members.append(subject.key)
        state.lastPosition += 1
        state.setStanding(standing, of: subject.key)
        state.blocks = conversation.blocks
        return MembershipChange(kind: .added, conversation: conversation, subject: subject).published(in: state.key)
    }

    public func removeMember(conversationID: String, actor: UserKey, userID: String) async throws -> MembershipChange {
        try await lane.perform(publishing: { db, cache in
            let state = try Self.memberState(conversationID, actor, cache, db)
            let subject = try Rows.account(publicID: userID, db)
            try MembershipPolicy.checkRemove(
                kind: state.kind, actor: actor, actorRole: try Rows.role(of: actor, in: state, db) ?? .member, target: subject?.key,
                targetRole: try subject.flatMap { try Rows.role(of: $0.key, in: state, db) }, members: state.members)
            guard let subject else { throw ChatError.userNotFound }
            return try Self.remove(subject, from: state, db)
        })
    }

    public func setRole(conversationID: String, actor: UserKey, userID: String, role: MemberRole) async throws -> MembershipChange {
        try await lane.perform(publishing: { db, cache in
            let state = try Self.memberState(conversationID, actor, cache, db)
            guard let subject = try Rows.account(publicID: userID, db) else { throw ChatError.userNotFound }
            let change = try MembershipPolicy.roleChange(
                kind: state.kind, actorRole: try Rows.role(of: actor, in: state, db) ?? .member, target: subject.key,
                targetRole: try Rows.role(of: subject.key, in: state, db), to: role)
            let setCode = "UPDATE members SET role = ? WHERE conversation_id = ? AND user_id = ?"
            switch change {
            case .unchanged:
                return (MembershipChange(kind: .unchanged, conversation: try Rows.conversation(key: state.key, db), subject: subject), nil)
            case .set(let role):
                try db.execute(sql: setCode, arguments: [role == .admin ? Rows.adminCode : 0, state.key, subject.key.rawValue])
            case .handOver:
                try db.execute(sql: "UPDATE conversations SET owner_id = ? WHERE id = ?", arguments: [subject.key.rawValue, state.key])
                try db.execute(sql: setCode, arguments: [0, state.key, subject.key.rawValue])
                if let previous = state.owner {
                    try db.execute(sql: setCode, arguments: [Rows.adminCode, state.key, previous.rawValue])
                }
                state.owner = subject.key
            }
            let conversation = try Rows.conversation(key: state.key, db)
            return MembershipChange(kind: .roleChanged, conversation: conversation, subject: subject).published(in: state.key)
        })
    }

    public func createInvite(
        conversationID: String, actor: UserKey, expiresTS: Millis?, maxUses: Int?
    ) async throws -> Invite {
        let now = self.now()
        return try await lane.perform { db, cache in
            let state = try Self.memberState(conversationID, actor, cache, db)
            try MembershipPolicy.checkAdd(kind: state.kind, actorRole: try Rows.role(of: actor, in: state, db) ?? .member)
            let invite = Invite(code: OpaqueID.make(), conversationID: conversationID, expiresTS: expiresTS, maxUses: maxUses, uses: 0)
            try db.execute(
                sql: "INSERT INTO invites (code, conversation_id, created_by, created_ts, expires_ts, max_uses) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [invite.code, state.key, actor.rawValue, now, expiresTS, maxUses])
            return invite
        }
    }

    public func revokeInvite(conversationID: String, actor: UserKey, code: String) async throws -> Bool {
        let now = self.now()
        return try await lane.perform { db, cache in
            let state = try Self.memberState(conversationID, actor, cache, db)
            try MembershipPolicy.checkAdd(kind: state.kind, actorRole: try Rows.role(of: actor, in: state, db) ?? .member)
            try db.execute(
                sql: "UPDATE invites SET revoked_ts = ? WHERE code = ? AND conversation_id = ? AND revoked_ts IS NULL",
                arguments: [now, code, state.key])
            return db.changesCount > 0
        }
    }

    /// An invite that still lets people in (not revoked, expired or used
    /// up); its `?` is now.
    private static let liveInvite = "revoked_ts IS NULL AND (expires_ts IS NULL OR expires_ts > ?) AND (max_uses IS NULL OR uses < max_uses)"

    public func invites(conversationID: String, actor: UserKey) async throws -> [Invite] {
        let now = self.now()
        return try await lane.perform { db, cache in
            let state = try Self.memberState(conversationID, actor, cache, db)
            try MembershipPolicy.checkAdd(kind: state.kind, actorRole: try Rows.role(of: actor, in: state, db) ?? .member)
            return try Row.fetchAll(
                db, sql: """
                    SELECT code, expires_ts, max_uses, uses FROM invites
                    WHERE conversation_id = ? AND \(Self.liveInvite)
                    ORDER BY created_ts DESC, code
                    """,
                arguments: [state.key, now]
            ).map { Invite(code: $0[0], conversationID: conversationID, expiresTS: $0[1], maxUses: $0[2], uses: $0[3]) }
        }
    }

    public func acceptInvite(code: String, member: Account) async throws -> MembershipChange {
        let now = self.now()
        let limits = self.limits
        return try await lane.perform(publishing: { db, cache in
            let valid = "code = ? AND \(Self.liveInvite)"
            guard let row = try Row.fetchOne(
                db, sql: "SELECT c.public_id, i.created_by FROM invites i JOIN conversations c ON c.id = i.conversation_id WHERE i.\(valid)",
                arguments: [code, now]),
                let state = try cache.conversation(publicID: row[0], db)
            else { throw InvitePolicy.notFound }
            // A member already (or one who declined): no use is spent.
            if state.members.contains(member.key) {
                return (MembershipChange(kind: .unchanged, conversation: try Rows.conversation(key: state.key, db), subject: member), nil)
            }
            try MembershipPolicy.checkRoom(members: state.members.count, adding: 1, limits: limits)
            // The one who made the invite brings the newcomer in.
            try BlockPolicy.checkBringIn(member.key, by: UserKey(row[1]), blocks: Rows.blocks(between: UserKey(row[1]), member.key, db))
            // Spent in the same transaction as the join: two people at the
            // last use cannot both get in.
            try db.execute(sql: "UPDATE invites SET uses = uses + 1 WHERE \(valid)", arguments: [code, now])
            guard db.changesCount == 1 else { throw InvitePolicy.notFound }
            return try Self.insertMember(member, standing: .accepted, role: .member, into: state, now: now, db)
        })
    }

    /// Takes a member out of a group, handing it on if they owned it.
    static func remove(
        _ subject: Account, from state: LaneCache.ConversationState, _ db: Database
    ) throws -> (MembershipChange, Publication?) {
        try db.execute(
            sql: "DELETE FROM members WHERE conversation_id = ? AND user_id = ?",
            arguments: [state.key, subject.key.rawValue])
        let remaining = state.members.filter { $0 != subject.key }
        var owner = state.owner
        if owner == subject.key {
            owner = MembershipPolicy.nextOwner(remainingByJoinOrder: remaining)
            try db.execute(
                sql: "UPDATE conversations SET owner_id = ? WHERE id = ?", arguments: [owner?.rawValue, state.key])
        }
        let conversation = try Rows.conversation(key: state.key, db)
        state.members = remaining
        state.owner = owner
        state.setStanding(.accepted, of: subject.key)
        state.blocks = conversation.blocks
        return MembershipChange(kind: .removed, conversation: conversation, subject: subject).published(in: state.key)
    }

    /// The lane's state of a conversation the actor is a member of.
    static func memberState(
        _ conversationID: String, _ actor: UserKey, _ cache: LaneCache, _ db: Database
    ) throws -> LaneCache.ConversationState {
        guard let state = try cache.conversation(publicID: conversationID, db), state.isMember(actor) else {
            throw ChatError.conversationNotFound
        }
        return state
    }

    // MARK: Messages

    public func append(_ request: AppendRequest, completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void) {
        lane.submit(AppendJob(request: request, now: now, completion: completion))
    }

    public func history(conversationID: String, viewer: UserKey, window: HistoryWindow, limit: Int) async throws -> HistoryPage {
        try await pool.read { db in
            guard let key = try Rows.conversationKey(publicID: conversationID, member: viewer, db) else {
                throw ChatError.conversationNotFound
            }
            let (condition, value, newestFirst): (String, Int64?, Bool) =
                switch window {
                case .after(let seq): ("m.seq > ?", seq, false)
                case .before(let seq): ("m.seq < ?", seq, true)
                case .since(let ts): ("m.ts >= ?", ts, false)
                case .latest: ("1", nil, true)
                }
            var arguments: StatementArguments = [conversationID, viewer.rawValue, key]
            if let value { arguments += [value] }
            arguments += [limit + 1]
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: """
                    \(Rows.messageColumns), EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ? AND b.blocked_id = m.sender_id)
                    \(Rows.messageSource) WHERE m.conversation_id = ? AND \(condition)
                    ORDER BY m.seq \(newestFirst ? "DESC" : "ASC") LIMIT ?
                    """),
                arguments: arguments)
            var messages = rows.prefix(limit).map(Rows.message)
            if newestFirst { messages.reverse() }
            let blockedSenders = Set(rows.prefix(limit).lazy.filter { $0[12] as Bool }.map { $0[4] as String })
            return HistoryPage(messages: messages, hasMore: rows.count > limit, blockedSenders: blockedSenders)
        }
    }

    public func deleteMessage(conversationID: String, seq: Int64, by actor: UserKey?) async throws -> Message {
        try await lane.perform(publishing: { db, cache in
            guard let state = try cache.conversation(publicID: conversationID, db) else { throw ChatError.conversationNotFound }
            if let actor {
                guard state.isMember(actor) else { throw ChatError.conversationNotFound }
                if let sender = try Int64.fetchOne(
                    db, sql: "SELECT sender_id FROM messages WHERE conversation_id = ? AND seq = ?", arguments: [state.key, seq]) {
                    try MessagePolicy.checkDelete(
                        actor: actor, sender: UserKey(sender), actorRole: try Rows.role(of: actor, in: state, db) ?? .member)
                }
            }
            try db.execute(
                sql: "UPDATE messages SET text = '', deleted = 1 WHERE conversation_id = ? AND seq = ? AND deleted = 0",
                arguments: [state.key, seq])
            let changed = db.changesCount > 0
            guard let message = try Row.fetchOne(
                db.cachedStatement(sql: "\(Rows.messageColumns) \(Rows.messageSource) WHERE m.conversation_id = ? AND m.seq = ?"),
                arguments: [conversationID, state.key, seq]
            ).map(Rows.message) else { throw ChatError(.notFound, "message not found") }
            let event = ChatEvent.messagesUpdated([message], recipients: state.members)
            return (message, changed ? Publication(conversation: state.key, event: event) : nil)
        })
    }

    public func eraseAccount(_ user: UserKey) async throws -> Bool {
        let now = self.now()
        let shownLive = limits.erasedShownLive
        let events = try await lane.perform { db, cache -> [ChatEvent]? in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE id = ? AND erased_ts IS NULL", arguments: [user.rawValue]) == true else {
                return nil
            }
            let newest = try Row.fetchAll(
                db, sql: "SELECT conversation_id, seq FROM messages WHERE sender_id = ? AND deleted = 0 ORDER BY id DESC LIMIT ?",
                arguments: [user.rawValue, shownLive])
            try db.execute(sql: "UPDATE messages SET text = '', deleted = 1 WHERE sender_id = ? AND deleted = 0", arguments: [user.rawValue])
            // The handle key cannot be a handle ('~'), so it is free for
            // anyone and matches no log-in; the name says what happened.
            try db.execute(
                sql: """
                    UPDATE users SET erased_ts = ?, password_hash = '', external_id = NULL, email = NULL, handle = 'deleted',
                        handle_key = '~' || public_id, display_name = 'Deleted user', display_key = '', bot = 0
                    WHERE id = ?
                    """,
                arguments: [now, user.rawValue])
            try db.execute(
                sql: "UPDATE tokens SET revoked_ts = COALESCE(revoked_ts, ?) WHERE user_id = ?", arguments: [now, user.rawValue])
            var seqs: [Int64: [Int64]] = [:]
            for row in newest { seqs[row[0], default: []].append(row[1]) }
            var events: [ChatEvent] = [.userErased(user)]
            for (key, conversationSeqs) in seqs.sorted(by: { $0.key < $1.key }) {
                guard let publicID = try String.fetchOne(db, sql: "SELECT public_id FROM conversations WHERE id = ?", arguments: [key]),
                    let state = try cache.conversation(publicID: publicID, db)
                else { continue }
                let messages = try Row.fetchAll(
                    db, sql: "\(Rows.messageColumns) \(Rows.messageSource) WHERE m.conversation_id = ? AND m.seq IN (\(conversationSeqs.map(String.init).joined(separator: ","))) ORDER BY m.seq",
                    arguments: [publicID, key]
                ).map(Rows.message)
                events.append(.messagesUpdated(messages, recipients: state.members))
            }
            return events
        }
        guard let events else { return false }
        for event in events { broker.publish(event) }
        return true
    }

    public func markRead(conversationID: String, reader: Account, seq: Int64, origin: SessionID?) async throws -> ReadMarkChange {
        try await lane.perform(publishing: { db, cache in
            let state = try Self.memberState(conversationID, reader.key, cache, db)
            let current = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT read_seq FROM members WHERE conversation_id = ? AND user_id = ?"),
                arguments: [state.key, reader.key.rawValue]) ?? 0
            let standing = state.standing(of: reader.key)
            func mark(at readSeq: Int64) throws -> ReadMark {
                ReadMark(
                    conversationID: conversationID, lastSeq: state.lastSeq, readSeq: readSeq,
                    unreadFromBlocked: state.blocks.hasBlocks(by: reader.key)
                        ? try Rows.unreadFromBlocked(conversation: state.key, after: readSeq, reader: reader.key, db) : 0,
                    isRequest: standing.isRequest)
            }
            guard let target = ReadMarkPolicy.moved(current: current, requested: seq, lastSeq: state.lastSeq) else {
                return (ReadMarkChange(mark: try mark(at: current), moved: false), nil)
            }
            try db.execute(
                sql: "UPDATE members SET read_seq = ? WHERE conversation_id = ? AND user_id = ?",
                arguments: [target, state.key, reader.key.rawValue])
            let event = ChatEvent.readMarkMoved(
                try mark(at: target), reader: reader,
                receiptRecipients: Visibility.receiptRecipients(reader: reader.key, standing: standing, listeners: state.listeners),
                origin: origin)
            return (ReadMarkChange(mark: try mark(at: target), moved: true), Publication(conversation: state.key, event: event))
        })
    }
}
