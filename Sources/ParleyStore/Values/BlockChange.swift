import ParleyCore

public struct BlockChange: Sendable {
    public let subject: Account
    /// False when it was already so (blocking twice, unblocking someone not blocked).
    public let changed: Bool
    /// Whether the two share a conversation: only then did they see each
    /// other's presence.
    public let shareConversation: Bool
}
