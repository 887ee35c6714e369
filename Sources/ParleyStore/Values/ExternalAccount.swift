import ParleyCore

/// A user the product knows as `externalID`, as it asks for them to be
/// found or made (`ChatStore.provisionAccount`).
public struct ExternalAccount: Sendable {
    public let externalID: String
    /// Tried in order for a new user; the first free one is taken.
    public let handles: [(handle: String, key: String)]
    /// nil: the handle is shown.
    public let displayName: String?
    public let bot: Bool

    public init(externalID: String, handles: [(handle: String, key: String)], displayName: String?, bot: Bool = false) {
        self.externalID = externalID
        self.handles = handles
        self.displayName = displayName
        self.bot = bot
    }
}
