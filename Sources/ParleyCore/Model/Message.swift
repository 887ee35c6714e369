/// A stored message, as every member may see it. `clientID` is shown only to
/// the sender's own sessions; encoders decide that, not this type.
public struct Message: Sendable, Hashable {
    public let id: String
    public let conversationID: String
    public let seq: Int64
    public let sender: User
    public let text: String
    public let ts: Millis
    public let clientID: String
    /// Deleted by a moderator or with its sender's account: the text is
    /// gone (""), the seq stays.
    public let deleted: Bool

    public init(
        id: String, conversationID: String, seq: Int64, sender: User, text: String, ts: Millis, clientID: String, deleted: Bool = false
    ) {
        self.id = id
        self.conversationID = conversationID
        self.seq = seq
        self.sender = sender
        self.text = text
        self.ts = ts
        self.clientID = clientID
        self.deleted = deleted
    }
}
