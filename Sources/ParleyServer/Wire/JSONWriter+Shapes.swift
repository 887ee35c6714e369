import NIOCore
import ParleyCore
import ParleyStore

/// The wire shapes of the domain types (docs/PROTOCOL.md, "Objects").
extension JSONWriter {
    /// `user`: `{id, handle, display_name}`, and `bot: true` for bots:
    /// never a row key, an external id or an e-mail.
    mutating func user(_ user: User) {
        beginObject()
        field("id", user.id)
        field("handle", user.handle)
        field("display_name", user.displayName)
        if user.bot { field("bot", true) }
        endObject()
    }

    /// `message`. `client_id` only goes to the sender's own sessions;
    /// `sender_blocked` only to readers who blocked the sender, and only
    /// when true.
    mutating func message(_ message: Message, showClientID: Bool, senderBlocked: Bool = false) {
        beginObject()
        field("id", message.id)
        field("conversation_id", message.conversationID)
        field("seq", message.seq)
        key("sender")
        user(message.sender)
        field("text", message.text)
        field("ts", message.ts)
        if showClientID { field("client_id", message.clientID) }
        if senderBlocked { field("sender_blocked", true) }
        if message.deleted { field("deleted", true) }
        endObject()
    }

    mutating func message(_ message: Message, viewer: User, senderBlocked: Bool = false) {
        self.message(message, showClientID: message.sender.id == viewer.id, senderBlocked: senderBlocked)
    }

    /// A page of history as `viewer` sees it.
    mutating func messages(_ page: HistoryPage, viewer: User) {
        beginArray()
        for message in page.messages {
            self.message(
                message, viewer: viewer, senderBlocked: !page.blockedSenders.isEmpty && page.blockedSenders.contains(message.sender.id))
        }
        endArray()
    }

    /// `conversation`, as `viewer` sees it: their own `read_seq`, `unread` and
    /// `request`, each member's read mark, and each member's presence as
    /// this node knows it, hidden between two people when one blocked the
    /// other and hidden (with the read mark) while it is a request for the member.
    mutating func conversation(_ conversation: Conversation, viewer: Account, isOnline: (UserKey) -> Bool) {
        beginObject()
        field("id", conversation.id)
        field("kind", conversation.kind.rawValue)
        field("title", conversation.title)
        if let owner = conversation.owner { field("owner_id", owner.id) }
        key("members")
        beginArray()
        for member in conversation.members {
            beginObject()
            key("user")
            user(member.account.user)
            let key = member.account.key
            field("online", isOnline(key) && Visibility.showsPresence(of: member, to: viewer.key, blocks: conversation.blocks))
            // Read ticks follow receipts: not filtered by blocks, hidden (0) from a request.
            field("read_seq", Visibility.showsReadMark(of: member, to: viewer.key) ? member.readSeq : 0)
            field("role", member.role.rawValue)
            endObject()
        }
        endArray()
        field("last_seq", conversation.lastSeq)
        field("read_seq", conversation.readSeq(of: viewer.key))
        field("unread", conversation.unread(of: viewer.key))
        field("request", conversation.standing(of: viewer.key).isRequest)
        if let last = conversation.lastMessage {
            key("last_message")
            let sender = conversation.members.first { $0.account.user.id == last.sender.id }?.account.key
            message(last, viewer: viewer.user, senderBlocked: sender.map { conversation.blocks.contains(blocker: viewer.key, blocked: $0) } ?? false)
        }
        field("created_ts", conversation.createdTS)
        field("last_activity_ts", conversation.lastActivityTS)
        endObject()
    }

    mutating func error(_ error: ChatError) {
        field("code", error.code.rawValue)
        field("message", error.message)
        if let retry = error.retryAfterMs { field("retry_after_ms", retry) }
    }
}
