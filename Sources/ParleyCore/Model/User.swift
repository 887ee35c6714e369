/// A user as others may see them: opaque id, handle, display name. No e-mail,
/// no row key.
public struct User: Sendable, Hashable {
    public let id: String
    public let handle: String
    public let displayName: String
    /// A user the product's backend posts as (the service API makes them).
    public let bot: Bool

    public init(id: String, handle: String, displayName: String, bot: Bool = false) {
        self.id = id
        self.handle = handle
        self.displayName = displayName
        self.bot = bot
    }
}
