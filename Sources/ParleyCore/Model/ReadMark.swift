/// Where one member has read up to in one conversation.
public struct ReadMark: Sendable, Hashable {
    public let conversationID: String
    public let lastSeq: Int64
    public let readSeq: Int64

    public init(conversationID: String, lastSeq: Int64, readSeq: Int64) {
        self.conversationID = conversationID
        self.lastSeq = lastSeq
        self.readSeq = readSeq
    }

    public var unread: Int64 { Self.unread(lastSeq: lastSeq, readSeq: readSeq) }

    public static func unread(lastSeq: Int64, readSeq: Int64) -> Int64 { max(0, lastSeq - readSeq) }
}
