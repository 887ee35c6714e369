import Logging
import ParleyCore
import PostgresNIO

/// One message to store, queued on the PostgreSQL lane.
struct PostgresAppendJob: PostgresLaneWork {
    let request: AppendRequest
    let now: @Sendable () -> Millis
    let completion: @Sendable (Result<AppendOutcome, any Error>) -> Void

    func abandon(_ error: any Error) {
        completion(.failure(error))
    }
}

/// Stores a batch of appends in one transaction, in a few round trips
/// whatever its size:
///
/// 1. lock the rows of the conversations written to, in key order, reading
///    their last seq (and their members, if another process changed them);
/// 2. decide every message here, by the rules of ParleyCore, numbering the
///    accepted ones from the locked last seq;
/// 3. one statement inserts the messages and moves the conversations and
///    the senders' read marks (arrays bound as parameters, `unnest` in SQL);
/// 4. COMMIT, and only then answer.
///
/// The locks are what make several writers safe: no other process can
/// number messages in these conversations until this one commits, so seqs
/// have no gap and no repeat. A retried `client_id` is caught by the
/// unique index; if one turns up (the insert stores fewer rows than asked),
/// the batch is rolled back and done again with a look-up of the stored
/// originals first, so the common batch pays for no such look-up.
struct PostgresAppendBatch {
    let jobs: [PostgresAppendJob]
    let cache: PostgresLaneCache

    private struct Retry: Error {}

    private struct ClientKey: Hashable {
        let conversation: Int64
        let sender: Int64
        let clientID: String
    }

    private struct ReadMarkKey: Hashable {
        let conversation: Int64
        let user: Int64
    }

    /// What became of one job, turned into its report after COMMIT.
    private enum Decision {
        case refused(ChatError, conversation: Int64?)
        case duplicate(Message, conversation: Int64)
        case stored(Message, conversation: Int64, recipients: [UserKey], blockedBy: [UserKey], standingChanges: Int?)
    }

    /// The columns of the insert, one array each.
    func commit(_ connection: PostgresLaneConnection, log: PostgresEventLogWriter, logger: Logger) async throws -> [CommitReport] {
        do {
            return try await attempt(connection, log: log, logger: logger, lookUpOriginals: false)
        } catch is Retry {
            cache.reset()
            return try await attempt(connection, log: log, logger: logger, lookUpOriginals: true)
        }
    }

    private func attempt(
        _ connection: PostgresLaneConnection, log: PostgresEventLogWriter, logger: Logger, lookUpOriginals: Bool
    ) async throws -> [CommitReport] {
        try await connection.transaction(logger: logger) { db in
            let reports = try await store(db, lookUpOriginals: lookUpOriginals)
            try await log.write(reports, db)
            return reports
        }
    }

    private func store(_ db: PostgresConnection, lookUpOriginals: Bool) async throws -> [CommitReport] {
        let keys = try await conversationKeys(db)
        let states = try await cache.lock(keys: Array(Set(keys.values)).sorted(), db)
        let originals = lookUpOriginals ? try await storedOriginals(keys: keys, states: states, db) : [:]

        var decisions: [Decision] = []
        decisions.reserveCapacity(jobs.count)
        var rows = PostgresLaneStatements.StoreMessages()
        var storedInBatch: [ClientKey: Message] = [:]
        var readMarks: [ReadMarkKey: Int64] = [:]
        var touched: [Int64: ConversationState] = [:]
        /// (decision index, conversation, changes) for messages that changed standings.
        var standingChanges: [(state: ConversationState, changes: [(member: UserKey, standing: Standing, kind: MembershipChange.Kind)])] = []

        for job in jobs {
            let request = job.request
            let sender = request.sender
            guard let key = keys[request.conversationID], let state = states[key] else {
                decisions.append(.refused(.conversationNotFound, conversation: nil))
                continue
            }
            let clientKey = ClientKey(conversation: key, sender: sender.key.rawValue, clientID: request.clientID)
            do throws(ChatError) {
                try MessagePolicy.checkSend(
                    isMember: state.isMember(sender.key),
                    blockedDirect: state.isBlockedDirect)
            } catch {
                // A retry of a message stored before the block still gets its ack.
                if error == .blocked, let original = try await original(clientKey, state, sender, storedInBatch, originals, db) {
                    decisions.append(.duplicate(original, conversation: key))
                } else {
                    decisions.append(.refused(error, conversation: key))
                }
                continue
            }
            if let original = storedInBatch[clientKey] ?? originals[clientKey] {
                decisions.append(.duplicate(original, conversation: key))
                continue
            }
            let now = job.now()
            let (seq, ts) = MessagePolicy.next(lastSeq: state.lastSeq, lastActivityTS: state.lastActivityTS, now: now)
            let activity = try await cache.nextActivity(now: now, db)
            let message = Message(
                id: OpaqueID.make(), conversationID: state.publicID, seq: seq, sender: sender.user, text: request.text, ts: ts,
                clientID: request.clientID)
            rows.publicIDs.append(message.id)
            rows.conversations.append(key)
            rows.seqs.append(seq)
            rows.senders.append(sender.key.rawValue)
            rows.texts.append(request.text)
            rows.times.append(ts)
            rows.clientIDs.append(request.clientID)
            rows.activities.append(activity)
            state.lastSeq = seq
            state.lastActivityTS = ts
            state.activity = activity
            touched[key] = state
            storedInBatch[clientKey] = message
            readMarks[ReadMarkKey(conversation: key, user: sender.key.rawValue)] = seq

            var changesIndex: Int?
            if !state.standings.isEmpty {
                let changes = state.standingChanges(afterMessageFrom: sender.key, now: now)
                if !changes.isEmpty {
                    changesIndex = standingChanges.count
                    standingChanges.append((state, changes))
                }
            }
            let recipients = state.listeners
            decisions.append(.stored(
                message, conversation: key, recipients: recipients,
                blockedBy: state.blocks.blockers(of: sender.key, among: recipients), standingChanges: changesIndex))
        }

        if !rows.seqs.isEmpty {
            let inserted = try await write(rows, conversations: Array(touched.values), readMarks: readMarks, db)
            if inserted != rows.seqs.count {
                // A client_id stored before, by this process or another:
                // roll back and do it again knowing the originals.
                guard !lookUpOriginals else {
                    throw ChatError(.internalError, "a batch stored \(inserted) of \(rows.seqs.count) messages")
                }
                throw Retry()
            }
        }
        let precedingEvents = try await applyStandingChanges(standingChanges, db)
        return reports(decisions, preceding: precedingEvents)
    }

    /// The row keys of the conversations written to, from the lane's memory
    /// or one query for those it does not know.
    private func conversationKeys(_ db: PostgresConnection) async throws -> [String: Int64] {
        var keys: [String: Int64] = [:]
        var unknown: [String] = []
        for job in jobs where keys[job.request.conversationID] == nil {
            let publicID = job.request.conversationID
            if let state = cache.cached(publicID: publicID) {
                keys[publicID] = state.key
            } else if OpaqueID.isWellFormed(publicID) {
                unknown.append(publicID)
            }
        }
        if !unknown.isEmpty {
            for row in try await db.rows("SELECT public_id, id FROM conversations WHERE public_id = ANY(\(Array(Set(unknown))))") {
                let (publicID, key) = try row.decode((String, Int64).self)
                keys[publicID] = key
            }
        }
        return keys
    }

    /// The messages already stored under the batch's client_ids.
    private func storedOriginals(
        keys: [String: Int64], states: [Int64: ConversationState], _ db: PostgresConnection
    ) async throws -> [ClientKey: Message] {
        var conversations: [Int64] = []
        var senders: [Int64] = []
        var clientIDs: [String] = []
        var sendersByKey: [Int64: User] = [:]
        for job in jobs {
            guard let key = keys[job.request.conversationID] else { continue }
            conversations.append(key)
            senders.append(job.request.sender.key.rawValue)
            clientIDs.append(job.request.clientID)
            sendersByKey[job.request.sender.key.rawValue] = job.request.sender.user
        }
        var originals: [ClientKey: Message] = [:]
        for row in try await db.rows("""
            SELECT m.conversation_id, m.sender_id, m.client_id, m.public_id, m.seq, m.text, m.ts, m.deleted
            FROM messages m JOIN unnest(\(conversations)::bigint[], \(senders)::bigint[], \(clientIDs)::text[]) AS r (c, s, k)
                ON m.conversation_id = r.c AND m.sender_id = r.s AND m.client_id = r.k
            """)
        {
            let (key, sender, clientID, publicID, seq, text, ts, deleted) =
                try row.decode((Int64, Int64, String, String, Int64, String, Int64, Int16).self)
            guard let state = states[key], let user = sendersByKey[sender] else { continue }
            originals[ClientKey(conversation: key, sender: sender, clientID: clientID)] = Message(
                id: publicID, conversationID: state.publicID, seq: seq, sender: user, text: text, ts: ts, clientID: clientID,
                deleted: deleted != 0)
        }
        return originals
    }

    /// The message stored before under this client_id, if any (asked only
    /// for a refused append, so rare).
    private func original(
        _ key: ClientKey, _ state: ConversationState, _ sender: Account, _ inBatch: [ClientKey: Message], _ known: [ClientKey: Message],
        _ db: PostgresConnection
    ) async throws -> Message? {
        if let message = inBatch[key] ?? known[key] { return message }
        return try await db.row("""
            SELECT public_id, seq, text, ts, deleted FROM messages
            WHERE conversation_id = \(key.conversation) AND sender_id = \(key.sender) AND client_id = \(key.clientID)
            """
        ).map {
            let (publicID, seq, text, ts, deleted) = try $0.decode((String, Int64, String, Int64, Int16).self)
            return Message(
                id: publicID, conversationID: state.publicID, seq: seq, sender: sender.user, text: text, ts: ts, clientID: key.clientID,
                deleted: deleted != 0)
        }
    }

    /// Inserts the messages, moves the conversations and the senders' read
    /// marks, in one prepared statement; answers how many messages it inserted.
    private func write(
        _ rows: PostgresLaneStatements.StoreMessages, conversations: [ConversationState], readMarks: [ReadMarkKey: Int64],
        _ db: PostgresConnection
    ) async throws -> Int {
        var statement = rows
        statement.movedConversations = conversations.map(\.key)
        statement.movedLastSeqs = conversations.map(\.lastSeq)
        statement.movedTimes = conversations.map(\.lastActivityTS)
        statement.movedActivities = conversations.map(\.activity)
        for (mark, seq) in readMarks {
            statement.readConversations.append(mark.conversation)
            statement.readUsers.append(mark.user)
            statement.readSeqs.append(seq)
        }
        var inserted: Int64 = 0
        for try await count in try await db.execute(statement, logger: PostgresLog.queries) { inserted = count }
        return Int(inserted)
    }

    /// Writes the standings that messages of the batch changed and makes
    /// the events members hear of before those messages.
    private func applyStandingChanges(
        _ all: [(state: ConversationState, changes: [(member: UserKey, standing: Standing, kind: MembershipChange.Kind)])],
        _ db: PostgresConnection
    ) async throws -> [[ChatEvent]] {
        var events: [[ChatEvent]] = []
        for (state, changes) in all {
            for change in changes {
                try await PostgresRows.setStanding(change.standing, of: change.member, inConversation: state.key, db)
            }
            try await cache.bumpVersion(of: state, db)
            let conversation = try await PostgresRows.conversation(key: state.key, db)
            events.append(changes.compactMap { change in
                conversation.member(change.member).map {
                    .membershipChanged(MembershipChange(kind: change.kind, conversation: conversation, subject: $0.account))
                }
            })
        }
        return events
    }

    private func reports(_ decisions: [Decision], preceding: [[ChatEvent]]) -> [CommitReport] {
        zip(jobs, decisions).map { job, decision in
            let completion = job.completion
            switch decision {
            case .refused(let error, let conversation):
                return CommitReport(conversation: conversation) { completion(.failure(error)) }
            case .duplicate(let original, let conversation):
                return CommitReport(conversation: conversation) {
                    completion(.success(AppendOutcome(message: original, duplicate: true, recipients: [])))
                }
            case .stored(let message, let conversation, let recipients, let blockedBy, let changes):
                let outcome = AppendOutcome(message: message, duplicate: false, recipients: recipients)
                return CommitReport(
                    conversation: conversation,
                    preceding: changes.map { preceding[$0] } ?? [],
                    event: .messageStored(
                        message, sender: job.request.sender.key, recipients: recipients, blockedBy: blockedBy,
                        origin: job.request.origin)
                ) { completion(.success(outcome)) }
            }
        }
    }
}
