import ParleyCore

public struct StoredCredentials: Sendable {
    public let account: Account
    /// nil for a user without a password (one made from the product's ids).
    public let passwordHash: String?
}
