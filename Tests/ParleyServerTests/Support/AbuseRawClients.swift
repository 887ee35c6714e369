import Foundation
import NIOCore
import NIOPosix

/// A WebSocket client over a bare TCP socket that reports everything the
/// server sends (the `101`, text frames, pings, the close frame, the end of
/// the connection) and sends nothing after the upgrade request unless told
/// to: with `answerPings`, it answers each ping with a pong and nothing else.
/// For keepalive tests (a client that stays silent, one that only answers
/// pings) and for sockets that may be refused right after the upgrade (see
/// `RawWebSocket` for why HummingbirdWSClient cannot observe that).
final class AbuseRawSocket: Sendable {
    enum Event: Sendable, Equatable {
        /// The status of the upgrade response.
        case status(Int)
        case text(String)
        case ping(String)
        case pong(String)
        case close(code: Int?, reason: String)
        /// The TCP connection ended.
        case end
    }

    let channel: any Channel
    private let inbox: Inbox<Event>

    private init(channel: any Channel, inbox: Inbox<Event>) {
        self.channel = channel
        self.inbox = inbox
    }

    /// Connects and sends the upgrade request with `headers`; does not wait.
    static func open(port: Int, headers: [(String, String)] = [], answerPings: Bool = false) async throws -> AbuseRawSocket {
        let inbox = Inbox<Event>()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FrameReader(inbox: inbox, answerPings: answerPings))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(string: RawWebSocket.upgradeRequest(port: port, headers: headers)))
        return AbuseRawSocket(channel: channel, inbox: inbox)
    }

    /// Opens with a bearer header.
    static func open(port: Int, token: String, answerPings: Bool = false) async throws -> AbuseRawSocket {
        try await open(port: port, headers: [("Authorization", "Bearer \(token)")], answerPings: answerPings)
    }

    /// The next event, or nil if none arrives within `timeout`.
    func next(timeout: Duration = .seconds(10)) async -> Event? {
        await inbox.next(timeout: timeout)
    }

    /// Reads past the `101` to the first text frame or the close: the
    /// session's `ready`, or the server's refusal. Throws on anything else.
    func firstFrame(timeout: Duration = .seconds(10)) async throws -> Event {
        let deadline = ContinuousClock.now + timeout
        while true {
            guard let event = await next(timeout: deadline - ContinuousClock.now) else {
                throw TestFailure("no frame within \(timeout)")
            }
            switch event {
            case .status(101), .ping, .pong: continue
            case .status(let status): throw TestFailure("the upgrade answered \(status)")
            case .text, .close: return event
            case .end: throw TestFailure("the connection ended without a close frame")
            }
        }
    }

    /// Sends one client frame (masked), with a payload under 64 KiB;
    /// `flags` are or-ed into the first byte (RSV bits).
    func sendFrame(opcode: UInt8, fin: Bool = true, flags: UInt8 = 0, _ payload: [UInt8]) async throws {
        var frame = FrameReader.maskedFrame(opcode: opcode, payload: payload)
        frame[0] = (fin ? 0x80 : 0) | flags | opcode
        try await channel.writeAndFlush(ByteBuffer(bytes: frame))
    }

    /// Sends one frame without a mask, as no client may (RFC 6455 §5.1).
    func sendUnmaskedFrame(opcode: UInt8, _ payload: [UInt8]) async throws {
        precondition(payload.count < 126)
        try await channel.writeAndFlush(ByteBuffer(bytes: [0x80 | opcode, UInt8(payload.count)] + payload))
    }

    /// The events after the `101` (and pings) up to the end of the connection.
    func eventsToEnd(timeout: Duration = .seconds(10)) async -> [Event] {
        let deadline = ContinuousClock.now + timeout
        var events: [Event] = []
        while let event = await next(timeout: deadline - ContinuousClock.now) {
            switch event {
            case .status(101), .ping: continue
            case .end: return events + [.end]
            default: events.append(event)
            }
        }
        return events
    }

    /// Closes the TCP connection, without a close frame.
    func drop() async {
        try? await channel.close()
    }
}

/// Parses the upgrade response, then server frames (unmasked), and pushes
/// them to the inbox. Answers pings with masked pongs if told to.
private final class FrameReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let inbox: Inbox<AbuseRawSocket.Event>
    private let answerPings: Bool
    private var buffer: [UInt8] = []
    private var upgraded = false
    private var fragments: [UInt8] = []
    private var ended = false

    init(inbox: Inbox<AbuseRawSocket.Event>, answerPings: Bool) {
        self.inbox = inbox
        self.answerPings = answerPings
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer += Self.unwrapInboundIn(data).readableBytesView
        if !upgraded {
            guard let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
            buffer.removeSubrange(..<end.upperBound)
            upgraded = true
            inbox.push(.status(Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0))
        }
        while let (opcode, fin, payload, consumed) = Self.frame(in: buffer) {
            buffer.removeFirst(consumed)
            switch opcode {
            case 0x1:
                if fin { inbox.push(.text(String(decoding: payload, as: UTF8.self))) } else { fragments = payload }
            case 0x0:
                fragments += payload
                if fin {
                    inbox.push(.text(String(decoding: fragments, as: UTF8.self)))
                    fragments = []
                }
            case 0x8:
                let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil
                let reason = payload.count > 2 ? String(decoding: payload[2...], as: UTF8.self) : ""
                inbox.push(.close(code: code, reason: reason))
            case 0xA:
                inbox.push(.pong(String(decoding: payload, as: UTF8.self)))
            case 0x9:
                inbox.push(.ping(String(decoding: payload, as: UTF8.self)))
                if answerPings {
                    context.writeAndFlush(NIOAny(ByteBuffer(bytes: Self.maskedFrame(opcode: 0xA, payload: payload))), promise: nil)
                }
            default:
                continue
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !ended {
            ended = true
            inbox.push(.end)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// One complete frame at the start of `bytes`: opcode, fin, payload, bytes used.
    private static func frame(in bytes: [UInt8]) -> (UInt8, Bool, [UInt8], Int)? {
        guard bytes.count >= 2 else { return nil }
        let fin = bytes[0] & 0x80 != 0
        let opcode = bytes[0] & 0x0F
        let masked = bytes[1] & 0x80 != 0
        var length = Int(bytes[1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            offset = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        var mask: [UInt8] = []
        if masked {
            guard bytes.count >= offset + 4 else { return nil }
            mask = Array(bytes[offset..<(offset + 4)])
            offset += 4
        }
        guard bytes.count >= offset + length else { return nil }
        var payload = Array(bytes[offset..<(offset + length)])
        if masked {
            for index in payload.indices { payload[index] ^= mask[index % 4] }
        }
        return (opcode, fin, payload, offset + length)
    }

    /// A client frame: always masked. Payloads under 64 KiB.
    static func maskedFrame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
        precondition(payload.count < 1 << 16)
        let mask: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
        let length: [UInt8] = payload.count < 126
            ? [0x80 | UInt8(payload.count)] : [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        return [0x80 | opcode] + length + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    }
}

/// One HTTP/1.1 request over a fresh connection from a chosen loopback
/// source address (any 127.x.y.z reaches a server on 127.0.0.1), so that a
/// test can look like several clients: the login throttle counts by address.
enum AbuseHTTP {
    struct Reply: Sendable {
        let status: Int
        /// Header names in lower case.
        let headers: [String: String]
        let raw: String
        var body: JSON { (try? JSON.parse(raw)) ?? .null }
    }

    static func post(port: Int, path: String, json: [String: String], from source: String) async throws -> Reply {
        let body = try JSONSerialization.data(withJSONObject: json)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let bytes: [UInt8] = try await channel.executeThenClose { inbound, outbound in
            var request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
            request += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            var buffer = ByteBuffer(string: request)
            buffer.writeBytes(body)
            try await outbound.write(buffer)
            var received: [UInt8] = []
            for try await chunk in inbound {
                received += chunk.readableBytesView
                if let reply = parse(received), reply.complete { break }
            }
            return received
        }
        guard let reply = parse(bytes) else { throw TestFailure("no HTTP response: \(String(decoding: bytes, as: UTF8.self))") }
        return Reply(status: reply.status, headers: reply.headers, raw: reply.body)
    }

    private static func parse(_ bytes: [UInt8]) -> (status: Int, headers: [String: String], body: String, complete: Bool)? {
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        guard let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(bytes[end.upperBound...])
        var complete = false
        if let length = headers["content-length"].flatMap(Int.init) {
            complete = body.count >= length
            body = Array(body.prefix(length))
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded: [UInt8] = []
            var rest = body[...]
            while let lineEnd = rest.firstRange(of: Array("\r\n".utf8)),
                let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16)
            {
                if size == 0 {
                    complete = true
                    break
                }
                let start = lineEnd.upperBound
                guard rest.endIndex >= start + size else { break }
                decoded += rest[start..<(start + size)]
                rest = rest[min(rest.endIndex, start + size + 2)...]
            }
            body = decoded
        }
        return (status, headers, String(decoding: body, as: UTF8.self), complete)
    }
}
