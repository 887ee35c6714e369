import ParleyCore

/// A message to store, as the WebSocket `send` frame and
/// `POST /v1/conversations/{id}/messages` both ask for it.
struct SendRequest: Equatable, Sendable {
    let conversationID: String
    let text: String
    let clientID: String

    init(conversationID: String?, text: String?, clientID: String?) throws(ChatError) {
        self.conversationID = try requiredField(conversationID, "conversation_id")
        self.text = try requiredField(text, "text")
        self.clientID = try requiredField(clientID, "client_id")
    }
}
