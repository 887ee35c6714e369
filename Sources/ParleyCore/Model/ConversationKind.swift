public enum ConversationKind: String, Sendable, Codable {
    case direct
    case group
}
