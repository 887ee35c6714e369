import ParleyCore
import ParleyStore

/// What a user can do in Parley, whichever door they come through: the
/// WebSocket gateway and the HTTP routes both call this, so the rules, the
/// validation and the events are the same for both.
struct ChatService: Sendable {
    let store: any ChatStore
    let hub: Hub
    let limits: ChatLimits

    /// Validates and stores a message, then acknowledges and fans it out.
    ///
    /// `completion` runs once the message is durable (or refused), before
    /// the fan-out; it runs on the store's writer, so it must be quick.
    func send(
        conversationID: String?, text: String?, clientID: String?, from sender: Account, origin: ClientSession?,
        completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void
    ) {
        let request: AppendRequest
        do throws(ChatError) {
            guard let conversationID else { throw .invalidRequest("conversation_id is required") }
            try Validation.messageText(text, limits: limits)
            let clientID = try Validation.clientID(clientID, limits: limits)
            request = AppendRequest(conversationID: conversationID, sender: sender, text: text!, clientID: clientID)
        } catch {
            completion(.failure(error))
            return
        }
        let hub = self.hub
        store.append(request) { result in
            completion(result)
            if case .success(let outcome) = result, !outcome.duplicate {
                hub.publish(outcome.message, sender: sender.key, recipients: outcome.recipients, except: origin)
            }
        }
    }

    func send(conversationID: String, text: String?, clientID: String?, from sender: Account) async throws -> AppendOutcome {
        try await withCheckedThrowingContinuation { continuation in
            send(conversationID: conversationID, text: text, clientID: clientID, from: sender, origin: nil) {
                continuation.resume(with: $0)
            }
        }
    }

    func history(
        conversationID: String?, viewer: Account, after: Int64?, before: Int64?, sinceTS: Millis?, limit: Int?
    ) async throws -> HistoryPage {
        guard let conversationID else { throw ChatError.invalidRequest("conversation_id is required") }
        let window = try Validation.historyWindow(after: after, before: before, sinceTS: sinceTS)
        let size = try Validation.pageSize(limit, default: limits.historyPageDefault, max: limits.historyPageMax)
        return try await store.history(conversationID: conversationID, viewer: viewer.key, window: window, limit: size)
    }

    func markRead(conversationID: String?, reader: Account, seq: Int64?) async throws -> ReadMarkChange {
        guard let conversationID else { throw ChatError.invalidRequest("conversation_id is required") }
        guard let seq else { throw ChatError.invalidRequest("seq is required") }
        guard seq >= 0 else { throw ChatError.invalidRequest("seq must be 0 or more") }
        return try await store.markRead(conversationID: conversationID, reader: reader.key, seq: seq)
    }

    func openDirect(owner: Account, with userID: String?) async throws -> (conversation: Conversation, created: Bool) {
        guard let userID else { throw ChatError.invalidRequest("with is required for a direct conversation") }
        return try await store.openDirect(between: owner, andUserID: userID)
    }

    func createGroup(owner: Account, title: String?, memberIDs: [String]?) async throws -> Conversation {
        let title = try Validation.groupTitle(title, limits: limits)
        // Each person once; the owner is a member already.
        var seen: Set<String> = [owner.user.id]
        let memberIDs = (memberIDs ?? []).filter { seen.insert($0).inserted }
        guard memberIDs.count < limits.maxGroupMembers else {
            throw ChatError.forbidden("a group has at most \(limits.maxGroupMembers) members")
        }
        return try await store.createGroup(owner: owner, title: title, memberIDs: memberIDs)
    }

    func conversation(id: String, viewer: Account) async throws -> Conversation {
        try await store.conversation(id: id, viewer: viewer.key)
    }

    func conversations(of viewer: Account, limit: Int?, cursor: String?) async throws -> ConversationPage {
        let size = try Validation.pageSize(limit, default: limits.conversationPageDefault, max: limits.conversationPageMax)
        var position: ConversationCursor?
        if let cursor {
            guard let decoded = ConversationCursor(token: cursor) else { throw ChatError.invalidRequest("cursor is not valid") }
            position = decoded
        }
        return try await store.conversations(of: viewer.key, limit: size, after: position)
    }

    func addMember(conversationID: String, actor: Account, userID: String?) async throws -> MembershipChange {
        guard let userID else { throw ChatError.invalidRequest("user_id is required") }
        return try await store.addMember(conversationID: conversationID, actor: actor.key, userID: userID)
    }

    func removeMember(conversationID: String, actor: Account, userID: String) async throws -> MembershipChange {
        try await store.removeMember(conversationID: conversationID, actor: actor.key, userID: userID)
    }
}
