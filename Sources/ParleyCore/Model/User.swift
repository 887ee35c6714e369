/// A user as others may see them: opaque id, handle, display name. No e-mail,
/// no row key.
public struct User: Sendable, Hashable {
    public let id: String
    public let handle: String
    public let displayName: String

    public init(id: String, handle: String, displayName: String) {
        self.id = id
        self.handle = handle
        self.displayName = displayName
    }
}
