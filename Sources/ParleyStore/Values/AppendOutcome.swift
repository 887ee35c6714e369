import ParleyCore

public struct AppendOutcome: Sendable {
    public let message: Message
    /// True when this client_id was already stored: `message` is the original.
    public let duplicate: Bool
    /// Who the message goes to: the members at the moment it was committed.
    public let recipients: [UserKey]
}
