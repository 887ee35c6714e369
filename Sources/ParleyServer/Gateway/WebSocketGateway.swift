import NIOHTTP1
import Logging
import NIOCore
import ParleyCore
import ParleyStore

/// The WebSocket endpoint, `GET /v1/ws`. A class: every connection keeps a
/// reference to it, not a copy of its settings.
final class WebSocketGateway: Sendable {
    struct Settings: Sendable {
        var authTimeout: Duration = .seconds(5)
        var maxFrameBytes = 64 * 1024
        var maxQueuedBytes = 1 << 20
        /// Sends of one session waiting for their commit; past this the
        /// session stops reading its socket until some are acknowledged.
        var maxSendsInFlight = 256
        var abuse = AbuseControls()
    }

    static let path = "/v1/ws"

    let chat: ChatService
    let tokens: TokenAuthority
    let bans: BanList
    let shutdown: GracefulShutdown
    let settings: Settings
    let now: @Sendable () -> Millis
    let unauthenticated: UnauthenticatedSockets
    let sessionStarts: SessionStartGate

    init(
        chat: ChatService, tokens: TokenAuthority, bans: BanList, shutdown: GracefulShutdown, settings: Settings,
        now: @escaping @Sendable () -> Millis
    ) {
        self.chat = chat
        self.tokens = tokens
        self.bans = bans
        self.shutdown = shutdown
        self.settings = settings
        self.now = now
        self.unauthenticated = UnauthenticatedSockets(limit: settings.abuse.maxUnauthenticated)
        self.sessionStarts = SessionStartGate(running: settings.abuse.sessionStarts, waiting: settings.abuse.waitingSessionStarts)
    }

    /// What the upgrade request gets.
    enum UpgradeDecision: Sendable {
        /// Not the gateway's path: 400.
        case notGateway
        /// Its address has too many sockets waiting to sign in: 429.
        case tooManyUnauthenticated
        case upgrade(GatewayConnection.HeaderAuth, UnauthenticatedSockets.Slot?)
    }

    /// Decides at the HTTP upgrade: nil refuses it (another path). A bearer
    /// header is checked here; a bad one still upgrades, so that the client
    /// gets the contract's close code (4401) rather than an HTTP status a
    /// browser cannot read.
    func shouldUpgrade(_ head: HTTPRequestHead, peer: String?) async -> UpgradeDecision {
        guard head.uri.split(separator: "?", maxSplits: 1).first == Self.path[...] else { return .notGateway }
        let client = settings.abuse.trustedProxies.clientAddress(peer: peer, forwardedFor: head.headers["X-Forwarded-For"])
        guard case .admitted(let slot) = unauthenticated.admit(client) else { return .tooManyUnauthenticated }
        guard let header = head.headers.first(name: "Authorization") else { return .upgrade(.absent, slot) }
        if let token = bearerToken(header), let identity = try? await tokens.authenticate(token) {
            return .upgrade(.valid(identity), slot)
        }
        return .upgrade(.invalid, slot)
    }

    /// Makes an upgraded socket a gateway connection: on the channel's event
    /// loop, after NIO's WebSocket frame codec was added. From here the
    /// socket lives in its handlers; no task waits on it.
    func open(
        _ channel: any Channel, headerAuth: GatewayConnection.HeaderAuth, unauthenticated: UnauthenticatedSockets.Slot?, logger: Logger
    ) throws {
        let liveness = Liveness()
        let (writer, outbox) = SocketWriter.make(liveness: liveness, limit: settings.maxQueuedBytes, eventLoop: channel.eventLoop)
        let connection = GatewayConnection(
            gateway: self, liveness: liveness, outbox: outbox, eventLoop: channel.eventLoop, unauthenticated: unauthenticated,
            logger: logger)
        let reader = WebSocketReader(connection: connection, outbox: outbox, maxMessageBytes: settings.maxFrameBytes)
        try channel.pipeline.syncOperations.addHandler(writer, position: .first)
        try channel.pipeline.syncOperations.addHandler(reader)
        let bound = NIOLoopBound(reader, eventLoop: channel.eventLoop)
        let eventLoop = channel.eventLoop
        connection.open(headerAuth) { eventLoop.execute { bound.value.resumeReading() } }
    }
}
