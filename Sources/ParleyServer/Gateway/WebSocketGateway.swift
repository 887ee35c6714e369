import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import ParleyCore
import ParleyStore

/// The WebSocket endpoint, `GET /v1/ws`.
struct WebSocketGateway: Sendable {
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
    let drain: Drain
    let settings: Settings
    let now: @Sendable () -> Millis

    /// Decides at the HTTP upgrade. A bearer header is checked here; a bad
    /// one still upgrades, so that the client gets the contract's close code
    /// (4401) rather than an HTTP status a browser cannot read.
    func shouldUpgrade(
        _ request: HTTPRequest, channel: any Channel, logger: Logger
    ) async throws -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        guard request.path?.split(separator: "?", maxSplits: 1).first == Self.path[...] else { return .dontUpgrade }
        let headerAuth: GatewayConnection.HeaderAuth
        if let header = request.headerFields[.authorization] {
            if let token = bearerToken(header), let identity = try? await tokens.authenticate(token) {
                headerAuth = .valid(identity)
            } else {
                headerAuth = .invalid
            }
        } else {
            headerAuth = .absent
        }
        let liveness = Liveness()
        let outbox = try await SocketWriter.install(on: channel, liveness: liveness, limit: settings.maxQueuedBytes)
        return .upgrade([:]) { inbound, outbound, context in
            let connection = GatewayConnection(
                gateway: self, liveness: liveness, outbox: outbox, eventLoop: channel.eventLoop, logger: context.logger)
            try await connection.run(inbound: inbound, outbound: outbound, headerAuth: headerAuth)
        }
    }
}
