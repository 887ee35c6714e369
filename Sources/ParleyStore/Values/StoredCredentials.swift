import ParleyCore

public struct StoredCredentials: Sendable {
    public let account: Account
    public let passwordHash: String
}
