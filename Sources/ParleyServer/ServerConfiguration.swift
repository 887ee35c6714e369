import ParleyCore

/// Everything `parley serve` can be told. Defaults are what `swift run parley`
/// gets.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Path of the SQLite file; created on first start. Read by whoever
    /// opens the store (`parley serve`), not by the application.
    public var databasePath = "parley.sqlite" {
        didSet { signingKeyPath = databasePath + ".jwt-key" }
    }
    /// Signs tokens. Nil: a random key generated on first start and kept in
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
    /// bcrypt cost of new password hashes. `parley serve` accepts 10 to 31;
    /// lower values (down to 4) are for tests only.
    public var bcryptCost: UInt8 = 12
    public var tokenLifetime: Duration = .seconds(30 * 24 * 3600)
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

/// The limits that keep one client from hurting the others.
public struct AbuseControls: Sendable {
    /// Messages per second per user, across sessions and HTTP; 0 turns it off.
    public var sendRate: Double = 1
    public var sendBurst = 5
    /// Other frames per second per session (typing, history, read, presence,
    /// ping); 0 turns it off.
    public var requestRate: Double = 20
    public var requestBurst = 40
    /// A socket with more refused frames than this within `strikeWindow` is closed (4429).
    public var floodStrikes = 20
    public var strikeWindow: Duration = .seconds(10)
    /// Closed for flooding this many times within `banWindow`: banned for `banDuration`.
    public var floodsBeforeBan = 3
    public var banWindow: Duration = .seconds(600)
    public var banDuration: Duration = .seconds(600)
    /// Unparseable, binary or unknown frames tolerated within a minute before 4400.
    public var protocolWarnings = 10
    public var maxSessionsPerUser = 20
    /// The server pings this often and closes (4408) a socket that answered
    /// two pings in a row with nothing at all; zero turns keepalive off.
    public var pingInterval: Duration = .seconds(25)
    /// Failed logins per handle and per address within `loginWindow`.
    public var loginFailures = 10
    public var loginWindow: Duration = .seconds(300)
    public var content = ContentPolicy()

    public init() {}
}
