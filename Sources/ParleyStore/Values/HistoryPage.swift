import ParleyCore

public struct HistoryPage: Sendable, Equatable {
    public let messages: [Message]
    /// More messages exist beyond this page in the direction of the request
    /// (newer for `after`/`since`, older for `before`/`latest`).
    public let hasMore: Bool
    /// The ids of this page's senders whom the viewer blocked: their
    /// messages are marked `sender_blocked` for the viewer.
    public let blockedSenders: Set<String>

    public init(messages: [Message], hasMore: Bool, blockedSenders: Set<String> = []) {
        self.messages = messages
        self.hasMore = hasMore
        self.blockedSenders = blockedSenders
    }
}
