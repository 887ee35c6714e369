import GRDB
import ParleyCore

/// Appends one message. Runs without a savepoint: every refusal is decided
/// before anything is written, so a refused message never touches the batch.
struct AppendJob: LaneJob {
    let request: AppendRequest
    let now: @Sendable () -> Millis
    let completion: @Sendable (Result<AppendOutcome, any Error>) -> Void

    func perform(_ db: Database, _ cache: LaneCache) throws -> CommitReport {
        let completion = self.completion
        let sender = request.sender
        guard let state = try cache.conversation(publicID: request.conversationID, db) else {
            return CommitReport { completion(.failure(ChatError.conversationNotFound)) }
        }
        do throws(ChatError) {
            try MessagePolicy.checkSend(
                isMember: state.isMember(sender.key),
                blockedDirect: state.isBlockedDirect)
        } catch {
            // A retry of a message stored before the block still gets its ack.
            if error == .blocked, let original = try Self.stored(request, state, db) {
                return CommitReport(conversation: state.key) {
                    completion(.success(AppendOutcome(message: original, duplicate: true, recipients: [])))
                }
            }
            return CommitReport(conversation: state.key) { completion(.failure(error)) }
        }
        let now = self.now()
        let (seq, ts) = MessagePolicy.next(lastSeq: state.lastSeq, lastActivityTS: state.lastActivityTS, now: now)
        let activity = try cache.nextActivity(now: now, db)
        let messageID = OpaqueID.make()
        try db.cachedStatement(sql: """
            INSERT INTO messages (public_id, conversation_id, seq, sender_id, text, ts, client_id, activity)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING
            """
        ).execute(arguments: [messageID, state.key, seq, sender.key.rawValue, request.text, ts, request.clientID, activity])

        if db.changesCount == 0 {
            // The same client_id was stored before: answer with the original.
            guard let original = try Self.stored(request, state, db) else {
                throw DatabaseError(resultCode: .SQLITE_INTERNAL, message: "conflicting message vanished")
            }
            return CommitReport(conversation: state.key) {
                completion(.success(AppendOutcome(message: original, duplicate: true, recipients: [])))
            }
        }

        cache.didAppend(to: state, seq: seq, ts: ts, activity: activity, sender: sender.key)
        let preceding = state.standings.isEmpty ? [] : try Self.standingChanges(after: sender, state, now: now, cache, db)
        let message = Message(
            id: messageID, conversationID: state.publicID, seq: seq, sender: sender.user, text: request.text, ts: ts,
            clientID: request.clientID)
        let recipients = state.listeners
        let outcome = AppendOutcome(message: message, duplicate: false, recipients: recipients)
        return CommitReport(
            conversation: state.key,
            preceding: preceding,
            event: .messageStored(
                message, sender: sender.key, recipients: recipients,
                blockedBy: state.blocks.blockers(of: sender.key, among: recipients), origin: request.origin)
        ) { completion(.success(outcome)) }
    }

    /// What a message changes in how members stand (docs/PROTOCOL.md, "Chat
    /// requests"): writing into a request accepts it; a direct conversation
    /// declined long enough ago comes back to the decliner as a request.
    /// Rare, so it reads the conversation afresh for the events it makes.
    private static func standingChanges(
        after sender: Account, _ state: LaneCache.ConversationState, now: Millis, _ cache: LaneCache, _ db: Database
    ) throws -> [ChatEvent] {
        let changes = state.standingChanges(afterMessageFrom: sender.key, now: now)
        guard !changes.isEmpty else { return [] }
        for change in changes {
            try Rows.setStanding(change.standing, of: change.member, inConversation: state.key, db)
        }
        // The conversation as it is with this message in it.
        try cache.flushDirty(db)
        let conversation = try Rows.conversation(key: state.key, db)
        return changes.compactMap { change in
            conversation.member(change.member).map {
                .membershipChanged(MembershipChange(kind: change.kind, conversation: conversation, subject: $0.account))
            }
        }
    }

    func abandon(_ error: any Error) {
        completion(.failure(error))
    }

    /// The message this sender stored before with the same client_id.
    private static func stored(_ request: AppendRequest, _ state: LaneCache.ConversationState, _ db: Database) throws -> Message? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT public_id, seq, text, ts, deleted FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_id = ?"),
            arguments: [state.key, request.sender.key.rawValue, request.clientID]
        ).map {
            Message(
                id: $0[0], conversationID: state.publicID, seq: $0[1], sender: request.sender.user, text: $0[2], ts: $0[3],
                clientID: request.clientID, deleted: $0[4])
        }
    }
}
