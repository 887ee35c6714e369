import Foundation
import Logging
import ParleyCore
import PostgresNIO
import Synchronization

/// The shared store: a PostgreSQL database that any number of Parley
/// processes may use at once.
///
/// Reads run on the `PostgresPool`, in parallel. Writes that sessions hear
/// of go through this process's `PostgresWriteLane` (appends in batches,
/// one COMMIT each); writes nobody hears of (accounts, tokens, bans, last
/// seen) run directly on the pool. Every acknowledgement follows a COMMIT
/// with `synchronous_commit` on, PostgreSQL's default, which the store
/// checks at start.
public final class PostgresChatStore: ChatStore {
    let pool: PostgresPool
    let lane: PostgresWriteLane
    let now: @Sendable () -> Millis
    let limits: ChatLimits
    let logger: Logger
    /// This process among the nodes sharing the database: random, new at
    /// each start (the id its broker and its event log rows carry).
    public let node: String
    public let broker: any EventBroker
    /// The broker this store made (the usual case), closed with it.
    private let ownBroker: PostgresBroker?
    /// Whether another node may read this one's events.
    let audience: ClusterAudience
    /// Writes events for the other nodes inside a transaction.
    let eventLog: PostgresEventLogWriter
    private let closed = Mutex(false)

    private init(
        pool: PostgresPool, location: PostgresLocation, node: String, audience: ClusterAudience, start: PostgresEventLog.Start,
        limits: ChatLimits, now: @escaping @Sendable () -> Millis, broker: (any EventBroker)?, logger: Logger
    ) {
        let ownBroker =
            broker == nil
            ? PostgresBroker(
                location: location, node: node, logger: logger, now: now, pollInterval: .seconds(1), audience: audience, start: start)
            : nil
        self.audience = audience
        let broker = broker ?? ownBroker!
        self.node = node
        self.pool = pool
        self.limits = limits
        self.now = now
        self.broker = broker
        self.ownBroker = ownBroker
        self.logger = logger
        // Events go to the other nodes in the commit of their change, from
        // this node (the store's own broker's id, or a new one).
        let log = PostgresEventLogWriter(
            node: node, audience: audience, now: now, commitsUncertain: { [weak ownBroker] in ownBroker?.readOwnMessagesForAWhile() })
        self.eventLog = log
        self.lane = PostgresWriteLane(
            connection: PostgresLaneConnection(location: location, role: "lane", logger: logger), cache: PostgresLaneCache(), log: log,
            reporter: CommitReporter(broker: broker, carriedByCommit: true), logger: logger)
    }

    /// Connects to the database at `location` and brings its schema up to
    /// date. Throws `PostgresUnreachable`, with the reason, if no connection
    /// could be made within `connectTimeout`, rather than waiting for ever.
    public static func open(
        _ location: PostgresLocation, limits: ChatLimits = ChatLimits(), now: @escaping @Sendable () -> Millis = SystemClock.millis,
        broker: (any EventBroker)? = nil, logger: Logger = Logger(label: "parley.postgres"),
        maximumConnections: Int = 20, connectTimeout: Duration = .seconds(10)
    ) async throws -> PostgresChatStore {
        // The checks and migrations run on a first connection of their own,
        // before the pool exists: the pool is only leased from once running.
        let first = try await firstConnection(location, within: connectTimeout, logger: logger)
        let node = PostgresBroker.newNodeID()
        let audience: ClusterAudience
        let start: PostgresEventLog.Start
        do {
            try await checkDurability(first)
            try await PostgresSchema.migrate(first, logger: logger)
            if try await first.exists("SELECT 1 FROM secrets WHERE name = \(SQLiteToPostgres.inProgressMark)") {
                throw MoveRefused(
                    "\(location.database) holds an unfinished copy from `parley migrate`: run the same parley migrate again to finish it")
            }
            // Alive before any session here is recorded: a presence row of
            // a node that never beat would look like a dead node's.
            let othersSeen = try await PostgresPresence.beat(node: node, first).othersSeen
            // Sessions come only once the others write for this node too,
            // and the log is read from here.
            if othersSeen { try await PostgresPresence.waitUntilKnown(node: node, first) }
            audience = ClusterAudience(othersSeen: othersSeen)
            start = try await PostgresEventLog.start(first)
            try? await first.close()
        } catch {
            try? await first.close()
            throw error
        }
        let pool = PostgresPool(location: location, maximumConnections: maximumConnections, logger: logger)
        return PostgresChatStore(
            pool: pool, location: location, node: node, audience: audience, start: start, limits: limits, now: now, broker: broker,
            logger: logger)
    }

    /// Tries to connect until `timeout` has passed; throws the last reason
    /// at once for what waiting cannot fix (a wrong password, no such database).
    private static func firstConnection(
        _ location: PostgresLocation, within timeout: Duration, logger: Logger
    ) async throws -> PostgresConnection {
        let deadline = ContinuousClock.now + timeout
        var quiet = logger
        quiet.logLevel = .critical
        var warned = false
        while true {
            do {
                return try await location.connect(logger: quiet, within: max(deadline - ContinuousClock.now, .milliseconds(500)), role: "start")
            } catch {
                let reason = PostgresFailure.reason(error)
                guard PostgresFailure.isTransient(error), ContinuousClock.now + .milliseconds(500) < deadline else {
                    throw PostgresUnreachable(location: location, reason: reason)
                }
                if !warned {
                    logger.warning("cannot reach PostgreSQL at \(location) yet, trying for \(timeout): \(reason)")
                    warned = true
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// PostgreSQL acknowledges a COMMIT before it is on disk if
    /// `synchronous_commit` is off: Parley would then ack messages a crash
    /// can lose. Refuse to run so.
    private static func checkDurability(_ db: PostgresConnection) async throws {
        let setting = try await db.row("SELECT current_setting('synchronous_commit'), current_setting('fsync')")?.decode((String, String).self)
        guard let (synchronousCommit, fsync) = setting else { return }
        guard synchronousCommit != "off", fsync == "on" else {
            throw PostgresNotDurable(synchronousCommit: synchronousCommit, fsync: fsync)
        }
    }

    public func close() async throws {
        guard closed.withLock({ closed in defer { closed = true }; return !closed }) else { return }
        await lane.close()
        await lane.reporter.flush()
        // Leaving: this node's users with no session elsewhere are
        // announced offline now rather than when the others notice the
        // silence. If PostgreSQL is away, they will.
        try? await giveUp(node, silent: false)
        await ownBroker?.close()
        await pool.close()
    }

    /// How the write lane has batched its work so far.
    public var writeStatistics: WriteStatistics { lane.statistics }

    /// Asks within 2 s: a load balancer's probe must not wait out the pool's
    /// 10 s while PostgreSQL is away.
    public func isReachable() async -> Bool {
        let pool = self.pool
        let answer = try? await PostgresDeadline.run(.seconds(2), timedOut: { PostgresTransactionTimedOut(limit: .seconds(2)) }) {
            try await pool.withConnection(limit: .seconds(2)) { db in try await db.row("SELECT 1")?.decode(Int.self) }
        }
        return answer == 1
    }

    /// A read on a connection of the pool, with transient failures (the
    /// database restarting) answered as `unavailable`.
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(body)
        } catch {
            throw PostgresFailure.map(error)
        }
    }

    /// A write nobody hears of, in a transaction of its own, off the lane.
    func write<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await PostgresTransaction.run(pool, logger: logger, body)
        } catch {
            throw PostgresFailure.map(error)
        }
    }

    // MARK: Accounts and tokens

    public func createAccount(_ request: NewAccount) async throws -> Account {
        let now = self.now()
        let publicID = OpaqueID.make()
        let key = try await write { db in
            try await db.row("""
                INSERT INTO users (public_id, handle, handle_key, display_name, display_key, password_hash, created_ts)
                VALUES (\(publicID), \(request.handle), \(request.handleKey), \(request.displayName),
                    \(SearchKey.fold(request.displayName)), \(request.passwordHash), \(now))
                ON CONFLICT (handle_key) DO NOTHING
                RETURNING id
                """
            )?.decode(Int64.self)
        }
        guard let key else { throw ChatError.conflict("the handle '\(request.handle)' is taken") }
        return Account(key: UserKey(key), user: User(id: publicID, handle: request.handle, displayName: request.displayName))
    }

    public func credentials(handleKey: String) async throws -> StoredCredentials? {
        try await read { db in
            try await db.row("SELECT \(unescaped: PostgresRows.accountColumns), NULLIF(password_hash, '') FROM users WHERE handle_key = \(handleKey)").map {
                let (key, publicID, handle, displayName, bot, hash) = try $0.decode((Int64, String, String, String, Int16, String?).self)
                return StoredCredentials(
                    account: Account(key: UserKey(key), user: User(id: publicID, handle: handle, displayName: displayName, bot: bot != 0)),
                    passwordHash: hash)
            }
        }
    }

    public func account(id: String) async throws -> Account? {
        guard OpaqueID.isWellFormed(id) else { return nil }
        return try await read { db in try await PostgresRows.account(publicID: id, db) }
    }

    public func account(handleKey: String) async throws -> Account? {
        try await read { db in try await PostgresRows.account(handleKey: handleKey, db) }
    }

    public func account(externalID: String) async throws -> Account? {
        try await read { db in
            try await db.row("SELECT \(unescaped: PostgresRows.accountColumns) FROM users WHERE external_id = \(externalID)").map(PostgresRows.account)
        }
    }

    public func provisionAccount(_ request: ExternalAccount) async throws -> (account: Account, created: Bool) {
        let now = self.now()
        let found = try await write { db -> (account: Account, created: Bool)? in
            for (handle, handleKey) in request.handles {
                let publicID = OpaqueID.make()
                let displayName = request.displayName ?? handle
                // Either unique key stops it: the external id (another node
                // made this user first) or the handle (try the next one).
                // No password: '' matches no bcrypt hash.
                if let key = try await db.row("""
                    INSERT INTO users (public_id, handle, handle_key, display_name, display_key, password_hash, created_ts, external_id, bot)
                    VALUES (\(publicID), \(handle), \(handleKey), \(displayName), \(SearchKey.fold(displayName)), '', \(now),
                        \(request.externalID), \(Int16(request.bot ? 1 : 0)))
                    ON CONFLICT DO NOTHING
                    RETURNING id
                    """)?.decode(Int64.self) {
                    let user = User(id: publicID, handle: handle, displayName: displayName, bot: request.bot)
                    return (Account(key: UserKey(key), user: user), true)
                }
                if let existing = try await db.row(
                    "SELECT \(unescaped: PostgresRows.accountColumns) FROM users WHERE external_id = \(request.externalID)"
                ) {
                    return (try PostgresRows.account(existing), false)
                }
            }
            return nil
        }
        guard let found else { throw ChatError.conflict("no free handle for this user") }
        return found
    }

    public func updateAccount(
        _ user: UserKey, handle: (handle: String, key: String)?, displayName: String?, bot: Bool?
    ) async throws -> Account {
        let eventLog = self.eventLog
        let account: Account?
        do {
            account = try await write { db in
                let account = try await db.row("""
                    UPDATE users SET handle = COALESCE(\(handle?.handle), handle), handle_key = COALESCE(\(handle?.key), handle_key),
                        display_name = COALESCE(\(displayName), display_name), display_key = COALESCE(\(displayName.map(SearchKey.fold)), display_key),
                        bot = COALESCE(\(bot.map { Int16($0 ? 1 : 0) }), bot)
                    WHERE id = \(user.rawValue)
                    RETURNING \(unescaped: PostgresRows.accountColumns)
                    """).map(PostgresRows.account)
                // Every node's sessions of the user go on under the new name.
                if let account { try await eventLog.write([.accountChanged(account)], db) }
                return account
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw ChatError.conflict("the handle '\(handle?.handle ?? "")' is taken")
        }
        guard let account else { throw ChatError.userNotFound }
        broker.publishCommitted(.accountChanged(account))
        return account
    }

    public func recordToken(_ token: TokenRecord) async throws {
        try await write { db in
            try await db.run("""
                INSERT INTO tokens (id, user_id, issued_ts, expires_ts)
                VALUES (\(token.id), \(token.user.rawValue), \(token.issuedTS), \(token.expiresTS))
                ON CONFLICT (id) DO NOTHING
                """)
        }
    }

    public func recordLoginCode(_ code: LoginCodeRecord) async throws {
        try await write { db in
            try await db.run("""
                UPDATE login_codes SET used_ts = \(code.createdTS)
                WHERE email = \(code.email) AND user_id IS NOT DISTINCT FROM \(code.purpose.userKey) AND used_ts IS NULL
                """)
            // Old codes are of no use to anyone: a day after they ended, gone.
            try await db.run("DELETE FROM login_codes WHERE expires_ts < \(code.createdTS - 86_400_000)")
            try await db.run("""
                INSERT INTO login_codes (email, user_id, code_hash, created_ts, expires_ts)
                VALUES (\(code.email), \(code.purpose.userKey), \(code.codeHash), \(code.createdTS), \(code.expiresTS))
                """)
        }
    }

    public func redeemLoginCode(
        email: String, codeHash: String, purpose: LoginCodeRecord.Purpose, at now: Millis, maxTries: Int,
        handles: [(handle: String, key: String)]
    ) async throws -> (account: Account, created: Bool)? {
        let userKey = purpose.userKey
        do {
            return try await redeemLoginCode(
                email: email, codeHash: codeHash, purpose: purpose, userKey: userKey, at: now, maxTries: maxTries, handles: handles)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            // Another account linked the address in the same moment.
            throw ChatError.conflict("that address belongs to another account")
        }
    }

    private func redeemLoginCode(
        email: String, codeHash: String, purpose: LoginCodeRecord.Purpose, userKey: Int64?, at now: Millis, maxTries: Int,
        handles: [(handle: String, key: String)]
    ) async throws -> (account: Account, created: Bool)? {
        try await write { db -> (account: Account, created: Bool)? in
            // Locked: two tries at once are counted one after the other.
            guard let row = try await db.row("""
                SELECT id, code_hash, tries FROM login_codes
                WHERE email = \(email) AND user_id IS NOT DISTINCT FROM \(userKey) AND used_ts IS NULL AND expires_ts > \(now)
                ORDER BY id DESC LIMIT 1 FOR UPDATE
                """)
            else { return nil }
            let (id, hash, previous) = try row.decode((Int64, String, Int32).self)
            let tries = Int(previous) + 1
            let right = hash == codeHash && tries <= maxTries
            try await db.run("""
                UPDATE login_codes SET tries = \(Int32(tries)), used_ts = CASE WHEN \(right) OR \(tries >= maxTries) THEN \(now) ELSE used_ts END
                WHERE id = \(id)
                """)
            guard right else { return nil }
            switch purpose {
            case .signIn:
                if let account = try await db.row(
                    "SELECT \(unescaped: PostgresRows.accountColumns) FROM users WHERE email = \(email) AND erased_ts IS NULL") {
                    return (try PostgresRows.account(account), false)
                }
                for (handle, key) in handles {
                    let publicID = OpaqueID.make()
                    if let created = try await db.row("""
                        INSERT INTO users (public_id, handle, handle_key, display_name, display_key, password_hash, created_ts, email)
                        VALUES (\(publicID), \(handle), \(key), \(handle), \(SearchKey.fold(handle)), '', \(now), \(email))
                        ON CONFLICT DO NOTHING RETURNING id
                        """)?.decode(Int64.self) {
                        return (Account(key: UserKey(created), user: User(id: publicID, handle: handle, displayName: handle)), true)
                    }
                    // Another node made the user for this address meanwhile.
                    if let account = try await db.row(
                        "SELECT \(unescaped: PostgresRows.accountColumns) FROM users WHERE email = \(email) AND erased_ts IS NULL") {
                        return (try PostgresRows.account(account), false)
                    }
                }
                throw ChatError.conflict("no free handle for this user")
            case .link(let user):
                if try await db.exists("SELECT 1 FROM users WHERE email = \(email) AND id != \(user.rawValue)") {
                    throw ChatError.conflict("that address belongs to another account")
                }
                return try await db.row("""
                    UPDATE users SET email = \(email) WHERE id = \(user.rawValue) RETURNING \(unescaped: PostgresRows.accountColumns)
                    """).map { (try PostgresRows.account($0), false) }
            }
        }
    }

    public func email(of user: UserKey) async throws -> String? {
        try await read { db in
            try await db.row("SELECT email FROM users WHERE id = \(user.rawValue)")?.decode(String?.self)
        }
    }

    public func pendingLinkEmail(of user: UserKey, at now: Millis) async throws -> String? {
        try await read { db in
            try await db.row("""
                SELECT email FROM login_codes WHERE user_id = \(user.rawValue) AND used_ts IS NULL AND expires_ts > \(now)
                ORDER BY id DESC LIMIT 1
                """)?.decode(String.self)
        }
    }

    public func revokeToken(id: String) async throws -> Bool {
        let now = self.now()
        let eventLog = self.eventLog
        let event = try await write { db -> ChatEvent? in
            guard let user = try await db.row("UPDATE tokens SET revoked_ts = COALESCE(revoked_ts, \(now)) WHERE id = \(id) RETURNING user_id")?
                .decode(Int64.self)
            else { return nil }
            // In the same transaction: no node can miss a revocation that
            // committed.
            let event = ChatEvent.tokenRevoked(user: UserKey(user), tokenID: id)
            try await eventLog.write([event], db)
            return event
        }
        guard let event else { return false }
        broker.publishCommitted(event)
        return true
    }

    public func revokedTokenIDs() async throws -> [String] {
        let now = self.now()
        return try await read { db in
            try await db.rows("SELECT id FROM tokens WHERE revoked_ts IS NOT NULL AND expires_ts > \(now)").map { try $0.decode(String.self) }
        }
    }

    public func recordBan(_ user: UserKey, until: Millis) async throws {
        let now = self.now()
        let eventLog = self.eventLog
        let event = try await write { db in
            let effective = try await db.row("""
                INSERT INTO bans (user_id, until_ts, created_ts) VALUES (\(user.rawValue), \(until), \(now))
                ON CONFLICT (user_id) DO UPDATE SET until_ts = GREATEST(bans.until_ts, excluded.until_ts)
                RETURNING until_ts
                """)?.decode(Int64.self)
            let event = ChatEvent.userBanned(user, until: effective ?? until)
            try await eventLog.write([event], db)
            return event
        }
        broker.publishCommitted(event)
    }

    public func liftBan(_ user: UserKey, at now: Millis) async throws -> Bool {
        let eventLog = self.eventLog
        let event = try await write { db -> ChatEvent? in
            guard try await db.exists("DELETE FROM bans WHERE user_id = \(user.rawValue) AND until_ts > \(now) RETURNING 1") else { return nil }
            let event = ChatEvent.banLifted(user)
            try await eventLog.write([event], db)
            return event
        }
        guard let event else { return false }
        broker.publishCommitted(event)
        return true
    }

    public func activeBans(at now: Millis) async throws -> [UserKey: Millis] {
        try await read { db in
            var bans: [UserKey: Millis] = [:]
            for row in try await db.rows("SELECT user_id, until_ts FROM bans WHERE until_ts > \(now)") {
                let (user, until) = try row.decode((Int64, Int64).self)
                bans[UserKey(user)] = until
            }
            return bans
        }
    }

    // MARK: Messages

    public func append(_ request: AppendRequest, completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void) {
        lane.submit(PostgresAppendJob(request: request, now: now, completion: completion))
    }

    public func history(conversationID: String, viewer: UserKey, window: HistoryWindow, limit: Int) async throws -> HistoryPage {
        try await read { db in
            guard let key = try await PostgresRows.conversationKey(publicID: conversationID, member: viewer, db) else {
                throw ChatError.conversationNotFound
            }
            let columns = """
                SELECT \(PostgresRows.messageColumns),
                    EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = \(viewer.rawValue) AND b.blocked_id = m.sender_id)
                \(PostgresRows.messageSource) WHERE m.conversation_id = \(key)
                """
            let rows: [PostgresRow]
            let newestFirst: Bool
            switch window {
            case .after(let seq):
                newestFirst = false
                rows = try await db.rows("\(unescaped: columns) AND m.seq > \(seq) ORDER BY m.seq ASC LIMIT \(limit + 1)")
            case .before(let seq):
                newestFirst = true
                rows = try await db.rows("\(unescaped: columns) AND m.seq < \(seq) ORDER BY m.seq DESC LIMIT \(limit + 1)")
            case .since(let ts):
                newestFirst = false
                rows = try await db.rows("\(unescaped: columns) AND m.ts >= \(ts) ORDER BY m.seq ASC LIMIT \(limit + 1)")
            case .latest:
                newestFirst = true
                rows = try await db.rows("\(unescaped: columns) ORDER BY m.seq DESC LIMIT \(limit + 1)")
            }
            var messages: [Message] = []
            var blockedSenders = Set<String>()
            for row in rows.prefix(limit) {
                let message = try PostgresRows.message(row, conversationID: conversationID)
                messages.append(message)
                if try row.decode((String, Int64, Int64, String, String, String, String, Int64, String, Int16, Int16, Bool).self).11 {
                    blockedSenders.insert(message.sender.id)
                }
            }
            if newestFirst { messages.reverse() }
            return HistoryPage(messages: messages, hasMore: rows.count > limit, blockedSenders: blockedSenders)
        }
    }

    public func deleteMessage(conversationID: String, seq: Int64, by actor: UserKey?) async throws -> Message {
        try await lane.perform(publishing: { db, cache in
            guard let state = try await cache.lock(publicID: conversationID, db) else { throw ChatError.conversationNotFound }
            if let actor {
                guard state.isMember(actor) else { throw ChatError.conversationNotFound }
                if let sender = try await db.row(
                    "SELECT sender_id FROM messages WHERE conversation_id = \(state.key) AND seq = \(seq)")?.decode(Int64.self) {
                    try MessagePolicy.checkDelete(
                        actor: actor, sender: UserKey(sender), actorRole: try await PostgresRows.role(of: actor, in: state, db) ?? .member)
                }
            }
            let changed = try await db.exists(
                "UPDATE messages SET text = '', deleted = 1 WHERE conversation_id = \(state.key) AND seq = \(seq) AND deleted = 0 RETURNING 1")
            guard let message = try await db.row("""
                SELECT \(unescaped: PostgresRows.messageColumns) \(unescaped: PostgresRows.messageSource)
                WHERE m.conversation_id = \(state.key) AND m.seq = \(seq)
                """).map({ try PostgresRows.message($0, conversationID: conversationID) })
            else { throw ChatError(.notFound, "message not found") }
            let event = ChatEvent.messagesUpdated([message], recipients: state.members)
            return (message, changed ? Publication(conversation: state.key, event: event) : nil)
        })
    }

    public func eraseAccount(_ user: UserKey) async throws -> Bool {
        let now = self.now()
        let shownLive = limits.erasedShownLive
        let eventLog = self.eventLog
        let events = try await write { db -> [ChatEvent]? in
            guard try await db.exists("SELECT 1 FROM users WHERE id = \(user.rawValue) AND erased_ts IS NULL FOR UPDATE") else { return nil }
            var seqs: [Int64: [Int64]] = [:]
            for row in try await db.rows("""
                SELECT conversation_id, seq FROM messages WHERE sender_id = \(user.rawValue) AND deleted = 0
                ORDER BY ts DESC LIMIT \(shownLive)
                """)
            {
                let (key, seq) = try row.decode((Int64, Int64).self)
                seqs[key, default: []].append(seq)
            }
            try await db.run("UPDATE messages SET text = '', deleted = 1 WHERE sender_id = \(user.rawValue) AND deleted = 0")
            // The handle key cannot be a handle ('~'), so it is free for
            // anyone and matches no log-in; the name says what happened.
            try await db.run("""
                UPDATE users SET erased_ts = \(now), password_hash = '', external_id = NULL, email = NULL, handle = 'deleted',
                    handle_key = '~' || public_id, display_name = 'Deleted user', display_key = '', bot = 0
                WHERE id = \(user.rawValue)
                """)
            try await db.run("UPDATE tokens SET revoked_ts = COALESCE(revoked_ts, \(now)) WHERE user_id = \(user.rawValue)")
            var events: [ChatEvent] = [.userErased(user)]
            for (key, shown) in seqs.sorted(by: { $0.key < $1.key }) {
                guard let publicID = try await db.row("SELECT public_id FROM conversations WHERE id = \(key)")?.decode(String.self) else {
                    continue
                }
                let members = try await db.rows("SELECT user_id FROM members WHERE conversation_id = \(key) ORDER BY position")
                    .map { UserKey(try $0.decode(Int64.self)) }
                let messages = try await db.rows("""
                    SELECT \(unescaped: PostgresRows.messageColumns) \(unescaped: PostgresRows.messageSource)
                    WHERE m.conversation_id = \(key) AND m.seq = ANY(\(shown)) ORDER BY m.seq
                    """).map { try PostgresRows.message($0, conversationID: publicID) }
                events.append(.messagesUpdated(messages, recipients: members))
            }
            try await eventLog.write(events, db)
            return events
        }
        guard let events else { return false }
        for event in events { broker.publishCommitted(event) }
        return true
    }

    public func markRead(conversationID: String, reader: Account, seq: Int64, origin: SessionID?) async throws -> ReadMarkChange {
        try await lane.perform(publishing: { db, cache in
            let state = try await Self.memberState(conversationID, reader.key, cache, db)
            let current = try await db.row("""
                SELECT read_seq FROM members WHERE conversation_id = \(state.key) AND user_id = \(reader.key.rawValue)
                """
            )?.decode(Int64.self) ?? 0
            let standing = state.standing(of: reader.key)
            func mark(at readSeq: Int64) async throws -> ReadMark {
                ReadMark(
                    conversationID: conversationID, lastSeq: state.lastSeq, readSeq: readSeq,
                    unreadFromBlocked: state.blocks.hasBlocks(by: reader.key)
                        ? try await PostgresRows.unreadFromBlocked(conversation: state.key, after: readSeq, reader: reader.key, db) : 0,
                    isRequest: standing.isRequest)
            }
            guard let target = ReadMarkPolicy.moved(current: current, requested: seq, lastSeq: state.lastSeq) else {
                return (ReadMarkChange(mark: try await mark(at: current), moved: false), nil)
            }
            try await db.run("""
                UPDATE members SET read_seq = \(target) WHERE conversation_id = \(state.key) AND user_id = \(reader.key.rawValue)
                """)
            let moved = try await mark(at: target)
            let event = ChatEvent.readMarkMoved(
                moved, reader: reader,
                receiptRecipients: Visibility.receiptRecipients(reader: reader.key, standing: standing, listeners: state.listeners),
                origin: origin)
            return (ReadMarkChange(mark: moved, moved: true), Publication(conversation: state.key, event: event))
        })
    }

    /// The locked, current state of a conversation the actor is a member of.
    static func memberState(
        _ conversationID: String, _ actor: UserKey, _ cache: PostgresLaneCache, _ db: PostgresConnection
    ) async throws -> ConversationState {
        guard let state = try await cache.lock(publicID: conversationID, db), state.isMember(actor) else {
            throw ChatError.conversationNotFound
        }
        return state
    }
}

/// PostgreSQL could not be reached when the store opened.
public struct PostgresUnreachable: Error, CustomStringConvertible {
    public let location: PostgresLocation
    public let reason: String
    public var description: String { "cannot reach PostgreSQL at \(location): \(reason)" }
}

/// PostgreSQL is set to acknowledge commits that are not on disk.
public struct PostgresNotDurable: Error, CustomStringConvertible {
    public let synchronousCommit: String
    public let fsync: String
    public var description: String {
        "PostgreSQL runs with synchronous_commit = \(synchronousCommit) and fsync = \(fsync): acknowledged messages could be lost; "
            + "set synchronous_commit to on (or local, remote_write, remote_apply) and fsync to on"
    }
}

extension PostgresChatStore: SharedSecrets {
    public func sharedSecret(named name: String, orStore candidate: [UInt8]) async throws -> [UInt8] {
        let now = self.now()
        return try await write { db in
            try await db.run("""
                INSERT INTO secrets (name, value, created_ts) VALUES (\(name), \(Data(candidate)), \(now)) ON CONFLICT (name) DO NOTHING
                """)
            guard let stored = try await db.row("SELECT value FROM secrets WHERE name = \(name)")?.decode(Data.self) else {
                throw ChatError(.internalError, "the secret '\(name)' was not stored")
            }
            return Array(stored)
        }
    }
}
