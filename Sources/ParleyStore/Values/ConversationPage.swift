import ParleyCore

public struct ConversationPage: Sendable {
    public let conversations: [Conversation]
    public let nextCursor: ConversationCursor?
}
