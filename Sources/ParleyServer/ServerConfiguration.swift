import ParleyCore

/// Everything `parley serve` can be told. Defaults are what `swift run parley`
/// gets.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Path of the SQLite file; created on first start.
    public var databasePath = "parley.sqlite"
    /// Signs tokens. Nil: a random key generated on first start and kept in
    /// `<database>.jwt-key`.
    public var jwtSecret: String?
    public var authTimeout: Duration = .seconds(5)
    /// bcrypt cost of new password hashes. `parley serve` accepts 10 to 31;
    /// lower values (down to 4) are for tests only.
    public var bcryptCost: UInt8 = 12
    public var tokenLifetime: Duration = .seconds(30 * 24 * 3600)
    public var maxFrameBytes = 64 * 1024
    public var maxQueuedBytes = 1 << 20
    public var limits = ChatLimits()

    public init() {}
}
