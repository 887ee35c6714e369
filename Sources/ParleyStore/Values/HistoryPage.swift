import ParleyCore

public struct HistoryPage: Sendable, Equatable {
    public let messages: [Message]
    /// More messages exist beyond this page in the direction of the request
    /// (newer for `after`/`since`, older for `before`/`latest`).
    public let hasMore: Bool
}
