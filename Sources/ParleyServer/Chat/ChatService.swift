import ParleyCore
import ParleyStore

/// What a user can do in Parley, whichever door they come through: the
/// WebSocket gateway and the HTTP routes both call this, so the rules, the
/// validation and the events are the same for both.
///
/// What happens is published to the store's broker as a `ChatEvent`: by
/// the store for what it commits, by this service for the rest (typing,
/// presence). The hub reads only this node's state (who is online here,
/// the typing throttle); it receives events through the broker.
struct ChatService: Sendable {
    let store: any ChatStore
    let hub: Hub
    let presence: PresenceAnnouncer
    let cursors: CursorSeal
    let limits: ChatLimits
    let sendLimiter: SendLimiter
    let content: ContentPolicy

    var broker: any EventBroker { store.broker }

    /// Validates and stores a message; the store acknowledges it through
    /// `completion` once it is durable (or refused), then publishes it.
    /// `completion` must be quick.
    func send(
        _ send: SendRequest, from sender: Account, origin: SessionID?,
        completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void
    ) {
        let request: AppendRequest
        do throws(ChatError) {
            // Every attempt counts, so that a flood of bad messages is limited too.
            try sendLimiter.admit(sender.key)
            try Validation.messageText(send.text, limits: limits)
            try content.check(send.text)
            let clientID = try Validation.clientID(send.clientID, limits: limits)
            request = AppendRequest(
                conversationID: send.conversationID, sender: sender, text: send.text, clientID: clientID, origin: origin)
        } catch {
            completion(.failure(error))
            return
        }
        store.append(request, completion: completion)
    }

    func send(_ send: SendRequest, from sender: Account) async throws -> AppendOutcome {
        try await withCheckedThrowingContinuation { continuation in
            self.send(send, from: sender, origin: nil) { continuation.resume(with: $0) }
        }
    }

    /// A send whose fields could not be read: it counts against the sender's
    /// rate all the same, so that a flood of bad sends is limited too.
    /// Returns what to answer: `rate_limited` first, else `error`.
    func refuseSend(_ refusal: ChatError, from sender: Account) -> ChatError {
        do throws(ChatError) {
            try sendLimiter.admit(sender.key)
            return refusal
        } catch {
            return error
        }
    }

    func history(_ request: HistoryRequest, viewer: Account) async throws -> HistoryPage {
        let size = try Validation.pageSize(request.limit, default: limits.historyPageDefault, max: limits.historyPageMax)
        return try await store.history(conversationID: request.conversationID, viewer: viewer.key, window: request.window, limit: size)
    }

    /// Moves the reader's mark; if it moved, the other members get `receipt`
    /// and the reader's sessions but `origin` get `read_state`.
    func markRead(conversationID: String, reader: Account, seq: Int64, origin: SessionID?) async throws -> ReadMarkChange {
        guard seq >= 0 else { throw ChatError.invalidRequest("seq must be 0 or more") }
        return try await store.markRead(conversationID: conversationID, reader: reader, seq: seq, origin: origin)
    }

    /// Relays `typing` to the other members, at most once per interval per
    /// user and conversation; the rest are dropped without a word.
    func typing(conversationID: String, from typer: Account) async throws {
        // Checked before it becomes a key of the hub's typing table.
        guard OpaqueID.isWellFormed(conversationID) else { throw ChatError.conversationNotFound }
        guard hub.admitTyping(from: typer.key, in: conversationID, interval: limits.typingInterval, now: .now) else { return }
        let recipients = try await store.typingRecipients(conversationID: conversationID, typer: typer.key)
        broker.publish(.typing(conversationID: conversationID, typer: typer.user, recipients: recipients))
    }

    // MARK: People

    func searchUsers(query: String?, limit: Int?) async throws -> [User] {
        let prefix = try Validation.searchPrefix(query, limits: limits)
        let size = try Validation.pageSize(limit, default: limits.searchResultsMax, max: limits.searchResultsMax)
        return try await store.searchUsers(prefix: prefix, limit: size)
    }

    /// What `viewer` may know of a user's presence: nothing (offline, never
    /// seen) unless they share a conversation and neither blocked the other.
    func presenceState(_ view: PresenceView) -> (online: Bool, lastSeenTS: Millis?) {
        guard view.visible else { return (false, nil) }
        let online = hub.isOnline(view.account.key)
        return (online, online ? nil : view.lastSeenTS)
    }

    func presence(ofHandle handle: String, viewer: Account) async throws -> PresenceView {
        guard let handleKey = try? Validation.handleKey(handle),
            let view = try await store.presence(ofHandleKey: handleKey, viewer: viewer.key)
        else { throw ChatError.userNotFound }
        return view
    }

    /// The `presence` frame: every id asked, in order, once; unknown ones
    /// answer like hidden ones.
    func presence(of userIDs: [String], viewer: Account) async throws -> [(userID: String, online: Bool, lastSeenTS: Millis?)] {
        var seen = Set<String>()
        let unique = userIDs.filter { seen.insert($0).inserted }
        guard unique.count <= limits.presenceQueryMax else {
            throw ChatError.invalidRequest("ask about at most \(limits.presenceQueryMax) user_ids at a time")
        }
        let views = try await store.presence(of: unique, viewer: viewer.key)
        let byID = Dictionary(views.map { ($0.account.user.id, $0) }, uniquingKeysWith: { first, _ in first })
        return unique.map { id in
            guard let view = byID[id] else { return (id, false, nil) }
            let state = presenceState(view)
            return (id, state.online, state.lastSeenTS)
        }
    }

    /// Blocks a user. If the two shared a conversation, each stops seeing the
    /// other online at once.
    func block(userID: String, by blocker: Account) async throws {
        let change = try await store.block(blocker, userID: userID)
        guard change.changed, change.shareConversation else { return }
        let subject = change.subject
        if hub.isOnline(subject.key) {
            broker.publish(.presenceChanged(user: subject.user, online: false, lastSeenTS: nil, viewers: [blocker.key]))
        }
        if hub.isOnline(blocker.key) {
            broker.publish(.presenceChanged(user: blocker.user, online: false, lastSeenTS: nil, viewers: [subject.key]))
        }
    }

    /// Unblocks a user. If that makes their presence visible again, each
    /// learns the other's current state.
    func unblock(userID: String, by blocker: Account) async throws {
        let change = try await store.unblock(blocker, userID: userID)
        guard change.changed, change.shareConversation else { return }
        for (viewer, other) in [(blocker, change.subject), (change.subject, blocker)] {
            guard let view = try await store.presence(of: [other.user.id], viewer: viewer.key).first, view.visible else { continue }
            let state = presenceState(view)
            broker.publish(.presenceChanged(user: other.user, online: state.online, lastSeenTS: state.lastSeenTS, viewers: [viewer.key]))
        }
    }

    func blockedUsers(of user: Account) async throws -> [User] {
        try await store.blockedUsers(of: user.key)
    }

    func openDirect(
        owner: Account, with userID: String, introducedBy introducer: Introducer = .member
    ) async throws -> (conversation: Conversation, created: Bool) {
        try await store.openDirect(between: owner, andUserID: userID, introducedBy: introducer)
    }

    func createGroup(
        owner: Account, title: String, memberIDs: [String], introducedBy introducer: Introducer = .member
    ) async throws -> Conversation {
        let title = try Validation.groupTitle(title, limits: limits)
        // Each person once; the owner is a member already.
        var seen: Set<String> = [owner.user.id]
        let memberIDs = memberIDs.filter { seen.insert($0).inserted }
        try MembershipPolicy.checkRoom(members: 1, adding: memberIDs.count, limits: limits)
        return try await store.createGroup(owner: owner, title: title, memberIDs: memberIDs, introducedBy: introducer)
    }

    func conversation(id: String, viewer: Account) async throws -> Conversation {
        try await store.conversation(id: id, viewer: viewer.key)
    }

    func conversations(of viewer: Account, limit: Int?, cursor: String?) async throws -> ConversationPage {
        let size = try Validation.pageSize(limit, default: limits.conversationPageDefault, max: limits.conversationPageMax)
        var position: ConversationCursor?
        if let cursor {
            guard let opened = cursors.open(cursor) else { throw ChatError.invalidRequest("cursor is not valid") }
            position = opened
        }
        return try await store.conversations(of: viewer.key, limit: size, after: position)
    }

    func addMember(conversationID: String, actor: Account, userID: String) async throws -> MembershipChange {
        try await store.addMember(conversationID: conversationID, actor: actor.key, userID: userID)
    }

    func removeMember(conversationID: String, actor: Account, userID: String) async throws -> MembershipChange {
        try await store.removeMember(conversationID: conversationID, actor: actor.key, userID: userID)
    }

    func setRole(conversationID: String, actor: Account, userID: String, role: MemberRole) async throws -> MembershipChange {
        try await store.setRole(conversationID: conversationID, actor: actor.key, userID: userID, role: role)
    }

    func deleteMessage(conversationID: String, seq: Int64, by actor: Account) async throws -> Message {
        try await store.deleteMessage(conversationID: conversationID, seq: seq, by: actor.key)
    }

    func createInvite(conversationID: String, actor: Account, expiresInSeconds: Int64?, maxUses: Int?) async throws -> Invite {
        let expires = try InvitePolicy.expiry(inSeconds: expiresInSeconds, now: SystemClock.millis())
        return try await store.createInvite(
            conversationID: conversationID, actor: actor.key, expiresTS: expires, maxUses: try InvitePolicy.maxUses(maxUses))
    }

    func revokeInvite(conversationID: String, actor: Account, code: String) async throws {
        guard try await store.revokeInvite(conversationID: conversationID, actor: actor.key, code: code) else { throw InvitePolicy.notFound }
    }

    func invites(conversationID: String, actor: Account) async throws -> [Invite] {
        try await store.invites(conversationID: conversationID, actor: actor.key)
    }

    /// Joins the invite's group; the conversation as the newcomer sees it.
    func acceptInvite(code: String, member: Account) async throws -> Conversation {
        guard OpaqueID.isWellFormed(code) else { throw InvitePolicy.notFound }
        return try await store.acceptInvite(code: code, member: member).conversation
    }

    /// Accepts a chat request: the member's presence, receipts and typing
    /// reach the others from now on (their `conversation` event shows it).
    func accept(conversationID: String, member: Account) async throws -> Conversation {
        try checkChatRequests()
        return try await store.accept(conversationID: conversationID, member: member).conversation
    }

    func decline(conversationID: String, member: Account) async throws {
        try checkChatRequests()
        _ = try await store.decline(conversationID: conversationID, member: member)
    }

    /// The request routes exist only where requests do: elsewhere every
    /// conversation is accepted and there is nothing to answer.
    private func checkChatRequests() throws(ChatError) {
        guard limits.chatRequests else { throw .notFound("chat requests are off on this server") }
    }
}
