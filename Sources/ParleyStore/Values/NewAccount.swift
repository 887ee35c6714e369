import ParleyCore

public struct NewAccount: Sendable {
    public let handle: String
    public let handleKey: String
    public let displayName: String
    public let passwordHash: String

    public init(handle: String, handleKey: String, displayName: String, passwordHash: String) {
        self.handle = handle
        self.handleKey = handleKey
        self.displayName = displayName
        self.passwordHash = passwordHash
    }
}
