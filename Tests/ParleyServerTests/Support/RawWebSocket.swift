import NIOCore
import NIOPosix

/// A bare WebSocket handshake over a plain TCP socket, for the one case
/// HummingbirdWSClient cannot observe reliably: a server that refuses right
/// after the upgrade. When the close frame arrives in the same read as the
/// `101` response, that client (hummingbird-websocket 2.8.1) loses both the
/// frame and the end of the connection and waits forever (seen in about half
/// of 100 concurrent tries here; a Python client saw 500 of 500).
enum RawWebSocket {
    struct Outcome: Sendable {
        let status: Int?
        let closeCode: Int?
        let closeReason: String?
        /// What followed the head when the server ended the connection (a refusal's body).
        var body = ""
    }

    /// Upgrades with `headers`, then reads until the server's close frame or
    /// the end of the connection.
    static func refusal(port: Int, path: String = "/v1/ws", headers: [(String, String)] = []) async throws -> Outcome {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: upgradeRequest(port: port, path: path, headers: headers)))

            var received = ByteBuffer()
            var status: Int?
            var iterator = inbound.makeAsyncIterator()
            while true {
                if status == nil, let headEnd = received.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) {
                    let head = received.readString(length: headEnd.upperBound - received.readerIndex) ?? ""
                    status = Int(head.split(separator: " ").dropFirst().first ?? "")
                }
                if status != nil, let frame = closeFrame(in: received) { return Outcome(status: status, closeCode: frame.0, closeReason: frame.1) }
                guard var chunk = try await iterator.next() else {
                    return Outcome(status: status, closeCode: nil, closeReason: nil, body: String(buffer: received))
                }
                received.writeBuffer(&chunk)
            }
        }
    }

    static func upgradeRequest(port: Int, path: String = "/v1/ws", headers: [(String, String)]) -> String {
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        return request + "\r\n"
    }

    /// The code and reason of a complete close frame at the start of `buffer`.
    private static func closeFrame(in buffer: ByteBuffer) -> (Int, String)? {
        let bytes = Array(buffer.readableBytesView)
        guard bytes.count >= 2, bytes[0] & 0x0F == 0x8 else { return nil }
        let length = Int(bytes[1] & 0x7F)
        guard length < 126, bytes.count >= 2 + length, length >= 2 else { return nil }
        let code = Int(bytes[2]) << 8 | Int(bytes[3])
        return (code, String(decoding: bytes[4..<(2 + length)], as: UTF8.self))
    }
}

/// A WebSocket session over a bare TCP socket, which the test can drop
/// without a close frame, as a crashed client or a lost network would.
struct RawSession: Sendable {
    let channel: any Channel

    /// Upgrades with a bearer header and waits for `ready`.
    static func open(port: Int, token: String) async throws -> RawSession {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let ready = loop.makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReadyDetector(ready: ready))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let request = RawWebSocket.upgradeRequest(port: port, headers: [("Authorization", "Bearer \(token)")])
        let timeout = loop.scheduleTask(in: .seconds(10)) { ready.fail(TestFailure("no ready on the raw socket")) }
        defer { timeout.cancel() }
        do {
            try await channel.writeAndFlush(ByteBuffer(string: request))
            try await ready.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        return RawSession(channel: channel)
    }

    /// Stops reading the socket: what the server sends piles up in the
    /// kernel's buffers, then in the server, as with a stalled client.
    func stopReading() async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: false)
    }

    /// Closes the TCP connection: no close frame, no closing handshake.
    func drop() async throws {
        try await channel.close()
    }
}

/// Succeeds `ready` once the `ready` frame has arrived.
private final class ReadyDetector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let ready: EventLoopPromise<Void>
    private var received: [UInt8] = []
    private var done = false

    init(ready: EventLoopPromise<Void>) {
        self.ready = ready
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        received += buffer.readableBytesView
        if !done, String(decoding: received, as: UTF8.self).contains(#""type":"ready""#) {
            done = true
            ready.succeed()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            ready.fail(TestFailure("the connection closed before ready: \(String(decoding: received, as: UTF8.self))"))
        }
        context.fireChannelInactive()
    }
}
