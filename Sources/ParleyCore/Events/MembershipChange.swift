/// The outcome of adding or removing a member.
public struct MembershipChange: Sendable {
    public enum Kind: Sendable { case added, removed, unchanged }
    public let kind: Kind
    /// The conversation after the change.
    public let conversation: Conversation
    public let subject: Account

    public init(kind: Kind, conversation: Conversation, subject: Account) {
        self.kind = kind
        self.conversation = conversation
        self.subject = subject
    }
}
