import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import ParleyCore

/// Every accepted socket: HTTP/1.1 served by the router, or, after a
/// WebSocket upgrade at `/v1/ws`, a gateway connection.
///
/// Hummingbird's own upgrading channel keeps a task per WebSocket for the
/// socket's life, with the async streams around it: most of an idle
/// session's memory. Here the upgrade hands the socket to the gateway's
/// channel handlers and the connection's task returns.
struct GatewayChildChannel: ServerChildChannel, HTTPChannelHandler {
    enum Negotiated: Sendable {
        /// The socket belongs to the gateway now.
        case webSocket
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade the gateway refused: answered 400, or 429 for an
        /// address with too many sockets still signing in.
        case refusedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, tooMany: Bool)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    let responder: Responder
    let gateway: WebSocketGateway
    /// How long a new connection has to send its first request head.
    let headTimeout: Duration
    /// How long an HTTP connection may sit idle after that.
    let idleTimeout: Duration?

    init(responder: @escaping Responder, gateway: WebSocketGateway, headTimeout: Duration, idleTimeout: Duration?) {
        self.responder = Self.redirectingLateUpgrades(responder)
        self.gateway = gateway
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // A socket keeps its receive buffer for its life, sized by the
            // largest read so far: start small (NIO's default is 2 KiB), as
            // most sockets are idle sessions; busy ones grow it quickly.
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffers)
            let upgradeAttempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let headerAuth = NIOLoopBoundBox<GatewayConnection.HeaderAuth?>(nil, eventLoop: channel.eventLoop)
            let slot = NIOLoopBoundBox<UnauthenticatedSockets.Slot?>(nil, eventLoop: channel.eventLoop)
            let tooMany = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let gateway = self.gateway
            let upgrader = NIOTypedWebSocketServerUpgrader<Negotiated>(
                maxFrameSize: gateway.settings.maxFrameBytes,
                shouldUpgrade: { channel, head in
                    upgradeAttempted.value = true
                    let peer = channel.remoteAddress?.ipAddress
                    let decision = channel.eventLoop.makePromise(of: WebSocketGateway.UpgradeDecision.self)
                    decision.completeWithTask { await gateway.shouldUpgrade(head, peer: peer) }
                    return decision.futureResult.map { decision in
                        switch decision {
                        case .notGateway: return nil
                        case .tooManyUnauthenticated:
                            tooMany.value = true
                            return nil
                        case .upgrade(let auth, let admitted):
                            headerAuth.value = auth
                            slot.value = admitted
                            // However the socket ends (even before the upgrade
                            // completes), its place is given back.
                            channel.closeFuture.whenComplete { _ in admitted?.release() }
                            return HTTPHeaders()
                        }
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        // shouldUpgrade said yes, so there is a decision.
                        try gateway.open(channel, headerAuth: headerAuth.value ?? .invalid, unauthenticated: slot.value, logger: logger)
                        return .webSocket
                    }
                })
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: self.idleTimeout, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        // A slot taken for an upgrade that then failed is given back.
                        slot.value?.release()
                        return upgradeAttempted.value ? .refusedUpgrade(http, tooMany: tooMany.value) : .http(http)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrade)
            // As Hummingbird's own channels: its request loop handles pipelining and errors.
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            // Hummingbird's limit (NIO's own is 65,534 header fields).
            configuration.decoderConfiguration.maxHeaderFieldCount = 1000
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let untilFirstRequest = UntilFirstRequest(timeout: TimeAmount(headTimeout))
            try channel.pipeline.syncOperations.addHandler(untilFirstRequest, position: .first)
            let bound = NIOLoopBound(untilFirstRequest, eventLoop: channel.eventLoop)
            negotiated.whenComplete { _ in channel.pipeline.syncOperations.removeHandler(bound.value, promise: nil) }
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .webSocket:
                return
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refusedUpgrade(let http, let tooMany):
                try await http.executeThenClose { _, outbound in
                    guard tooMany else {
                        let response = HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])
                        return try await outbound.write(contentsOf: [.head(response), .end(nil)])
                    }
                    try await outbound.write(contentsOf: Self.tooManyUnauthenticated())
                }
            }
        } catch {
            // A request head that could not be parsed (too many fields, say),
            // or a client that left: nothing more will be read from it.
            logger.debug("connection ended before its first request was served", metadata: ["error": "\(error)"])
            try? await value.channel.close()
        }
    }

    /// 429 with the contract's error body, for an address past `--max-unauthenticated`.
    private static func tooManyUnauthenticated() -> [HTTPResponsePart] {
        let error = ChatError.rateLimited("too many sockets from this address are still signing in", retryAfter: .seconds(1))
        let body = ServerFrame.object { w in
            w.key("error")
            w.beginObject()
            w.error(error)
            w.endObject()
        }
        let response = HTTPResponse(
            status: .tooManyRequests,
            headerFields: [
                .connection: "close", .contentType: "application/json; charset=utf-8", .retryAfter: "1",
                .contentLength: String(body.readableBytes),
            ])
        return [.head(response), .body(body), .end(nil)]
    }

    /// NIO upgrades only a connection's first request. A WebSocket upgrade
    /// that comes later on a kept-alive connection is sent to the same
    /// address on a new connection (307, then close), as Hummingbird does.
    private static func redirectingLateUpgrades(_ responder: @escaping Responder) -> Responder {
        struct RedirectThenClose: Error {}
        return { request, writer, channel in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                return try await responder(request, writer, channel)
            }
            var location = request.uri.path
            if let query = request.uri.query { location += "?\(query)" }
            try await writer.writeResponse(
                HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: location]))
            throw RedirectThenClose()
        }
    }
}
