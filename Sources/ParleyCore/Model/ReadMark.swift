/// Where one member has read up to in one conversation.
public struct ReadMark: Sendable, Hashable {
    public let conversationID: String
    public let lastSeq: Int64
    public let readSeq: Int64
    /// Messages after `readSeq` from senders the reader blocked.
    public let unreadFromBlocked: Int64
    /// The conversation is a chat request for the reader.
    public let isRequest: Bool

    public init(conversationID: String, lastSeq: Int64, readSeq: Int64, unreadFromBlocked: Int64 = 0, isRequest: Bool = false) {
        self.conversationID = conversationID
        self.lastSeq = lastSeq
        self.readSeq = readSeq
        self.unreadFromBlocked = unreadFromBlocked
        self.isRequest = isRequest
    }

    public var unread: Int64 { Self.unread(lastSeq: lastSeq, readSeq: readSeq, fromBlocked: unreadFromBlocked) }

    /// Messages after the read mark, but for those from blocked senders.
    /// Sending moves the sender's own mark to the message it sent, so every
    /// one of the reader's own messages is at or below the mark and this is
    /// exact without looking at senders.
    public static func unread(lastSeq: Int64, readSeq: Int64, fromBlocked: Int64 = 0) -> Int64 {
        max(0, lastSeq - readSeq - fromBlocked)
    }
}
