/// The outcome of a change to who is in a conversation, or how they stand in it.
public struct MembershipChange: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case added, removed
        /// The subject accepted a chat request (or opened a conversation
        /// they had declined).
        case accepted
        /// The subject declined a direct conversation: it leaves their sight.
        case declined
        /// A direct conversation the subject declined came back to them as
        /// a request.
        case reopened
        /// The subject's role changed (the owner may have handed over).
        case roleChanged
        case unchanged
    }
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
