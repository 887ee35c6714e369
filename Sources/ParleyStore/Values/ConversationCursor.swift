import ParleyCore

/// Position in a conversation list: the last conversation of the previous
/// page, and the newest activity the first page saw. Later pages order
/// conversations by their activity as of then, so conversations that move up
/// meanwhile are neither skipped nor repeated.
///
/// Activities are `ActivityOrder` stamps, not times. The server seals the
/// cursor before it leaves (`bytes` is the plain form).
public struct ConversationCursor: Sendable, Hashable {
    /// The newest activity stamp among the viewer's conversations when the
    /// first page was read.
    public let snapshot: Int64
    /// The activity of the last conversation listed, as of `snapshot`.
    public let activity: Int64
    public let conversationID: String

    public init(snapshot: Int64, activity: Int64, conversationID: String) {
        self.snapshot = snapshot
        self.activity = activity
        self.conversationID = conversationID
    }

    public var bytes: [UInt8] {
        Array("c2:\(snapshot):\(activity):\(conversationID)".utf8)
    }

    public init?(bytes: [UInt8]) {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "c2", let snapshot = Int64(parts[1]), let activity = Int64(parts[2]),
            OpaqueID.isWellFormed(parts[3])
        else { return nil }
        self.init(snapshot: snapshot, activity: activity, conversationID: String(parts[3]))
    }
}
