import NIOCore
import ParleyCore
import ParleyStore

/// Server → client WebSocket frames, each encoded once into a shareable buffer.
enum ServerFrame {
    /// `capacity`: a guess of the encoded size; a frame that outgrows it is
    /// copied into a buffer twice the size while it is written.
    static func encode(capacity: Int = 256, _ body: (inout JSONWriter) -> Void) -> WireFrame {
        WireFrame(text: object(capacity: capacity, framed: true, body))
    }

    /// One JSON object; `framed` leaves room for a WebSocket header before it.
    static func object(capacity: Int = 256, framed: Bool = false, _ body: (inout JSONWriter) -> Void) -> ByteBuffer {
        var writer = JSONWriter(capacity: capacity, framed: framed)
        writer.beginObject()
        body(&writer)
        writer.endObject()
        return writer.buffer
    }

    static func ready(sessionID: String, user: User, marks: [ReadMark]) -> WireFrame {
        encode { w in
            w.field("type", "ready")
            w.field("session_id", sessionID)
            w.key("user")
            w.user(user)
            w.key("conversations")
            w.beginArray()
            for mark in marks {
                w.beginObject()
                w.field("id", mark.conversationID)
                w.field("last_seq", mark.lastSeq)
                w.field("read_seq", mark.readSeq)
                w.field("unread", mark.unread)
                w.field("request", mark.isRequest)
                w.endObject()
            }
            w.endArray()
        }
    }

    static func message(_ message: Message, showClientID: Bool, senderBlocked: Bool = false) -> WireFrame {
        // About 250 bytes of names, ids and numbers around the text.
        let capacity = 320 + message.text.utf8.count + message.sender.displayName.utf8.count + message.sender.handle.utf8.count
        return encode(capacity: capacity) { w in
            w.field("type", "message")
            w.key("message")
            w.message(message, showClientID: showClientID, senderBlocked: senderBlocked)
        }
    }

    /// `message_updated`: a stored message changed (deleted). The same
    /// bytes for every member: no `client_id`, no `sender_blocked`.
    static func messageUpdated(_ message: Message) -> WireFrame {
        encode(capacity: 320 + message.text.utf8.count + message.sender.displayName.utf8.count) { w in
            w.field("type", "message_updated")
            w.key("message")
            w.message(message, showClientID: false)
        }
    }

    static func ack(re: String?, outcome: AppendOutcome) -> WireFrame {
        encode { w in
            w.field("type", "ack")
            w.field("re", re)
            w.field("conversation_id", outcome.message.conversationID)
            w.field("seq", outcome.message.seq)
            w.field("message_id", outcome.message.id)
            w.field("ts", outcome.message.ts)
            w.field("duplicate", outcome.duplicate)
        }
    }

    static func history(re: String?, conversationID: String, page: HistoryPage, viewer: User) -> WireFrame {
        encode { w in
            w.field("type", "history")
            w.field("re", re)
            w.field("conversation_id", conversationID)
            w.key("messages")
            w.messages(page, viewer: viewer)
            w.field("has_more", page.hasMore)
        }
    }

    static func ok(re: String?) -> WireFrame {
        encode { w in
            w.field("type", "ok")
            w.field("re", re)
        }
    }

    static func pong(re: String?) -> WireFrame {
        encode { w in
            w.field("type", "pong")
            w.field("re", re)
        }
    }

    static func presence(userID: String, online: Bool, lastSeenTS: Millis?) -> WireFrame {
        encode { w in
            w.field("type", "presence")
            w.field("user_id", userID)
            w.field("online", online)
            w.field("last_seen_ts", lastSeenTS)
        }
    }

    static func presenceState(re: String?, _ users: [(userID: String, online: Bool, lastSeenTS: Millis?)]) -> WireFrame {
        encode { w in
            w.field("type", "presence_state")
            w.field("re", re)
            w.key("users")
            w.beginArray()
            for user in users {
                w.beginObject()
                w.field("user_id", user.userID)
                w.field("online", user.online)
                w.field("last_seen_ts", user.lastSeenTS)
                w.endObject()
            }
            w.endArray()
        }
    }

    static func receipt(conversationID: String, userID: String, seq: Int64) -> WireFrame {
        encode { w in
            w.field("type", "receipt")
            w.field("conversation_id", conversationID)
            w.field("user_id", userID)
            w.field("seq", seq)
        }
    }

    static func readState(_ mark: ReadMark) -> WireFrame {
        encode { w in
            w.field("type", "read_state")
            w.field("conversation_id", mark.conversationID)
            w.field("read_seq", mark.readSeq)
            w.field("unread", mark.unread)
        }
    }

    static func typing(conversationID: String, userID: String) -> WireFrame {
        encode { w in
            w.field("type", "typing")
            w.field("conversation_id", conversationID)
            w.field("user_id", userID)
        }
    }

    /// `conversation`, for one viewer. `change` and `user_id` (who was added
    /// or removed) are additions to the contract.
    static func conversation(
        _ conversation: Conversation, change: String, subject: User?, viewer: Account, isOnline: (UserKey) -> Bool
    ) -> WireFrame {
        encode { w in
            w.field("type", "conversation")
            w.field("change", change)
            if let subject { w.field("user_id", subject.id) }
            w.key("conversation")
            w.conversation(conversation, viewer: viewer, isOnline: isOnline)
        }
    }

    static func notice(code: String, message: String) -> WireFrame {
        encode { w in
            w.field("type", "notice")
            w.field("code", code)
            w.field("message", message)
        }
    }

    static func error(re: String?, _ error: ChatError) -> WireFrame {
        encode { w in
            w.field("type", "error")
            w.field("re", re)
            w.error(error)
        }
    }
}
