import Foundation
import ParleyCore

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
    /// Frames a socket may send before it is signed in; the next one closes it (4400).
    public var framesBeforeAuth = 10
    public var maxSessionsPerUser = 20
    /// The server pings this often and closes (4408) a socket that answered
    /// two pings in a row with nothing at all; zero turns keepalive off.
    public var pingInterval: Duration = .seconds(25)
    /// Accounts created per client address per hour; 0 turns it off.
    public var signupRate = 20
    /// Password hashes (sign-ups, logins) running at once; more wait, up to
    /// `waitingLogIns` and `waitingSignUps`, and the rest are refused (503).
    public var hashWorkers = max(1, ProcessInfo.processInfo.activeProcessorCount)
    public var waitingLogIns = 64
    public var waitingSignUps = 4
    /// Sessions starting at once on this node (after the token, before
    /// `ready`); more wait, up to `waitingSessionStarts`, and the rest are
    /// closed 1013 with when to come back: a reconnect storm's bound.
    public var sessionStarts = 64
    public var waitingSessionStarts = 1_000
    /// Sockets per client address still without `ready`; 0 turns it off.
    public var maxUnauthenticated = 100
    /// Whose `X-Forwarded-For` names the client (load balancers).
    public var trustedProxies = TrustedProxies.none
    /// Failed logins per handle and per address within `loginWindow`.
    public var loginFailures = 10
    public var loginWindow: Duration = .seconds(300)
    public var content = ContentPolicy()

    public init() {}
}
