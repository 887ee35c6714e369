import ParleyCore

public struct AppendRequest: Sendable {
    public let conversationID: String
    public let sender: Account
    public let text: String
    public let clientID: String
    /// The session that sent it, which hears an ack instead of the event.
    public let origin: SessionID?

    public init(conversationID: String, sender: Account, text: String, clientID: String, origin: SessionID? = nil) {
        self.conversationID = conversationID
        self.sender = sender
        self.text = text
        self.clientID = clientID
        self.origin = origin
    }
}
