/// A code that lets anyone signed in join a group (`POST /v1/invites/{code}/accept`).
public struct Invite: Sendable, Hashable {
    /// Opaque and random: knowing it is what lets one in.
    public let code: String
    public let conversationID: String
    /// nil: it does not expire.
    public let expiresTS: Millis?
    /// nil: no limit.
    public let maxUses: Int?
    public let uses: Int

    public init(code: String, conversationID: String, expiresTS: Millis?, maxUses: Int?, uses: Int) {
        self.code = code
        self.conversationID = conversationID
        self.expiresTS = expiresTS
        self.maxUses = maxUses
        self.uses = uses
    }
}
