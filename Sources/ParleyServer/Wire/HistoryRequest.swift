import ParleyCore

/// A page of a conversation's history, as the WebSocket `history` frame and
/// `GET /v1/conversations/{id}/messages` both ask for it.
struct HistoryRequest: Equatable, Sendable {
    let conversationID: String
    let window: HistoryWindow
    /// Nil: the default page size.
    let limit: Int?

    init(conversationID: String?, after: Int64?, before: Int64?, sinceTS: Millis?, limit: Int?) throws(ChatError) {
        self.conversationID = try requiredField(conversationID, "conversation_id")
        self.window = try Validation.historyWindow(after: after, before: before, sinceTS: sinceTS)
        self.limit = limit
    }
}
