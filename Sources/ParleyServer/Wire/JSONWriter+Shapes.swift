import NIOCore
import ParleyCore
import ParleyStore

/// The wire shapes of the domain types (docs/PROTOCOL.md, "Objects").
extension JSONWriter {
    /// `user`: `{id, handle, display_name}`: never a row key, never an e-mail.
    mutating func user(_ user: User) {
        beginObject()
        field("id", user.id)
        field("handle", user.handle)
        field("display_name", user.displayName)
        endObject()
    }

    /// `message`. `client_id` only goes to the sender's own sessions.
    mutating func message(_ message: Message, showClientID: Bool) {
        beginObject()
        field("id", message.id)
        field("conversation_id", message.conversationID)
        field("seq", message.seq)
        key("sender")
        user(message.sender)
        field("text", message.text)
        field("ts", message.ts)
        if showClientID { field("client_id", message.clientID) }
        endObject()
    }

    mutating func message(_ message: Message, viewer: User) {
        self.message(message, showClientID: message.sender.id == viewer.id)
    }

    mutating func messages(_ messages: [Message], viewer: User) {
        beginArray()
        for message in messages { self.message(message, viewer: viewer) }
        endArray()
    }

    /// `conversation`, as `viewer` sees it: their own `read_seq` and `unread`,
    /// each member's read mark, and each member's presence as this node knows
    /// it, hidden between two people when one blocked the other.
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
            field("online", isOnline(key) && !conversation.blocks.separates(viewer.key, key))
            // Read ticks: receipts are not filtered by blocks, so neither is this.
            field("read_seq", member.readSeq)
            endObject()
        }
        endArray()
        field("last_seq", conversation.lastSeq)
        field("read_seq", conversation.readSeq(of: viewer.key))
        field("unread", conversation.unread(of: viewer.key))
        if let last = conversation.lastMessage {
            key("last_message")
            message(last, viewer: viewer.user)
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
