// Opens WebSocket sessions: TCP connect (from a rotating 127.0.0.x source
// address), HTTP upgrade with the bearer token on the upgrade request
// (docs/PROTOCOL.md §4.1), then waits for `ready`.

import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

public final class Connector: Sendable {
    public let group: MultiThreadedEventLoopGroup
    public let target: LoopbackTarget
    /// Source addresses to bind, in turn; empty lets the kernel choose.
    let sources: [SocketAddress]
    let counter = NIOLockedValueBox(0)
    /// Largest frame accepted from the server: a history page of 200
    /// messages is far above NIOWebSocket's 16 KiB default.
    static let maxFrameSize = 1 << 24

    public init(group: MultiThreadedEventLoopGroup, target: LoopbackTarget, sourceAddresses: Int) throws {
        self.group = group
        self.target = target
        if target.isIPv4, sourceAddresses > 0 {
            // 127.0.0.2 … : several sources multiply the ephemeral ports.
            self.sources = try (0..<sourceAddresses).map { try SocketAddress(ipAddress: "127.0.0.\(2 + $0)", port: 0) }
        } else {
            self.sources = []
        }
    }

    /// Connects one session on `loop` (or the next loop of the group) and
    /// returns it once the server sent `ready`, within `timeout`.
    public func open(index: Int, token: String, sink: (any SessionSink)?, on loop: (any EventLoop)? = nil,
                     timeout: TimeAmount = .seconds(30)) -> EventLoopFuture<WebSocketSession> {
        let loop = loop ?? group.next()
        let session = WebSocketSession(loop: loop, index: index, sink: sink)
        let n = counter.withLockedValue { v -> Int in v += 1; return v }
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
        if !sources.isEmpty {
            bootstrap = bootstrap.bind(to: sources[n % sources.count])
        }
        let host = target.connectHost
        let hostHeader = target.host.contains(":") ? "[\(target.host)]:\(target.port)" : "\(target.host):\(target.port)"
        let connected = bootstrap.channelInitializer { channel in
            let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: Connector.maxFrameSize, automaticErrorHandling: true) { channel, _ in
                channel.pipeline.addHandler(session)
            }
            let request = UpgradeRequestHandler(host: hostHeader, token: token, session: session)
            let config: NIOHTTPClientUpgradeSendableConfiguration = (
                upgraders: [upgrader],
                completionHandler: { context in
                    context.pipeline.removeHandler(name: "upgrade-request", promise: nil)
                }
            )
            // The server sends `ready` right behind the 101: those bytes can
            // arrive in the same read and must be forwarded, not dropped.
            return channel.pipeline.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes, withClientUpgrade: config).flatMap {
                channel.pipeline.addHandler(request, name: "upgrade-request")
            }
        }.connect(host: host, port: target.port)

        let deadline = loop.scheduleTask(in: timeout) {
            session.failBeforeUpgrade(SessionError.timeout)
        }
        connected.whenFailure { error in session.failBeforeUpgrade(error) }
        let result = session.readyFuture.map { _ in session }
        result.whenComplete { outcome in
            deadline.cancel()
            if case .failure = outcome {
                connected.whenSuccess { $0.close(promise: nil) }
            }
        }
        return result
    }
}

/// Sends the upgrade request once the TCP connection is up; the upgrade
/// handler adds the Upgrade and Sec-WebSocket-* headers to it.
final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let token: String
    let session: WebSocketSession

    init(host: String, token: String, session: WebSocketSession) {
        self.host = host
        self.token = token
        self.session = session
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Authorization", value: "Bearer \(token)")
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/ws", headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Anything read here is a response that was not an upgrade.
        if case .head(let head) = unwrapInboundIn(data), head.status != .switchingProtocols {
            session.failBeforeUpgrade(SessionError.upgradeRefused)
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        session.failBeforeUpgrade(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.failBeforeUpgrade(SessionError.upgradeRefused)
        context.fireChannelInactive()
    }
}

/// What it took one client to get a session while nodes turned it away.
public struct OpenAttempts: Sendable {
    public var session: WebSocketSession?
    /// Closes 1013 "server busy: retry in <ms> ms" (docs/PROTOCOL.md §4.6).
    public var busy = 0
    /// Other failures (timeouts, refused connects), by kind.
    public var failures: [String: Int] = [:]
    public var attempts = 0
    /// When `ready` came (monotonic ns), if it did.
    public var readyAt: UInt64?
    public var retries: Int { max(0, attempts - 1) }
}

extension Connector {
    /// Opens a session as a well-behaved client does during a reconnect
    /// storm: on close 1013 it waits the time the reason names plus up to
    /// `jitterMs` more, then tries again; after any other failure it waits
    /// `backoffMs` plus jitter. Gives up at `deadline` (monotonic ns).
    public func openHonouringBusy(index: Int, token: String, sink: (any SessionSink)?, on loop: any EventLoop,
                                  timeout: TimeAmount = .seconds(60), jitterMs: Int = 500, backoffMs: Int = 500,
                                  deadline: UInt64) async -> OpenAttempts {
        var result = OpenAttempts()
        while monotonicNanos() < deadline {
            result.attempts += 1
            let waitMs: Int
            do {
                result.session = try await open(index: index, token: token, sink: sink, on: loop, timeout: timeout).get()
                result.readyAt = monotonicNanos()
                return result
            } catch SessionError.closedBeforeReady(code: 1013?, let reason) {
                result.busy += 1
                waitMs = Self.retryMilliseconds(reason) ?? 1000
            } catch {
                result.failures[Self.failureKind(error), default: 0] += 1
                waitMs = backoffMs
            }
            let wait = UInt64(waitMs + Int.random(in: 0...max(0, jitterMs))) * 1_000_000
            if monotonicNanos() + wait >= deadline { break }
            try? await Task.sleep(nanoseconds: wait)
        }
        return result
    }

    /// The milliseconds of "server busy: retry in <ms> ms".
    static func retryMilliseconds(_ reason: String) -> Int? {
        guard let range = reason.range(of: "retry in ") else { return nil }
        return Int(reason[range.upperBound...].prefix { $0.isNumber })
    }

    static func failureKind(_ error: any Error) -> String {
        switch error {
        case SessionError.closedBeforeReady(let code, _): return "closed before ready (\(code.map(String.init) ?? "no close frame"))"
        case SessionError.timeout: return "no ready in time"
        case SessionError.upgradeRefused: return "upgrade refused"
        default: return "connect failed"
        }
    }
}
