import ParleyCore

/// Everything `parley serve` can be told. Defaults are what `swift run parley`
/// gets.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Path of the SQLite file (created on first start) or a `postgres://`
    /// URL (`DatabaseLocation`). Read by whoever opens the store (`parley
    /// serve`), not by the application.
    public var databasePath = "parley.sqlite" {
        didSet { signingKeyPath = databasePath + ".jwt-key" }
    }
    /// Signs tokens. Nil: a random key generated on first start and kept in
    /// the database if several processes may share it (PostgreSQL), else in
    /// `signingKeyPath`.
    public var jwtSecret: String?
    /// Where the generated signing key is kept: beside the SQLite file
    /// unless set after `databasePath`.
    public var signingKeyPath = "parley.sqlite.jwt-key"
    /// Folder of the browser client, served at `/`; nil or empty: API only.
    public var publicDirectory: String? = "Public"
    public var authTimeout: Duration = .seconds(5)
    /// A new connection that has not sent a whole request head by then is
    /// closed: an open socket is not free to hold.
    public var requestHeadTimeout: Duration = .seconds(30)
    /// A request body that has not fully arrived by then is answered 408 and
    /// its connection closed: a body trickled in a byte at a time would
    /// otherwise hold the connection (and its handler) open.
    public var requestBodyTimeout: Duration = .seconds(30)
    /// bcrypt cost of new password hashes. `parley serve` accepts 10 to 31;
    /// lower values (down to 4) are for tests only.
    public var bcryptCost: UInt8 = 12
    public var tokenLifetime: Duration = .seconds(30 * 24 * 3600)
    /// The product's own tokens, accepted beside ours; nil: only ours.
    public var productTokens: ProductTokenSettings?
    /// The product backend's key for `/v1/service/…` (at least 32
    /// characters); nil: those routes do not exist (404).
    public var serviceKey: String?
    /// The mail server log-in codes go out through; nil: no log-in codes.
    public var mail: MailSettings?
    /// Whether people may sign up and sign in with a handle and password
    /// (`--accounts off`: only through the product).
    public var passwordAccounts = true
    /// Largest WebSocket message (1009 past it) and HTTP body (413 past it).
    public var maxFrameBytes = 64 * 1024
    /// A session whose outbound queue would pass this is closed (1008).
    public var maxQueuedBytes = 1 << 20
    public var limits = ChatLimits()
    public var abuse = AbuseControls()
    /// How long a graceful shutdown waits for sessions to take their last
    /// acks and close before the server stops anyway.
    public var drainDeadline: Duration = .seconds(5)

    public init() {}
}
