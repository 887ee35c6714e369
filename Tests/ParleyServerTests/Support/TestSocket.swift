import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Testing

/// A WebSocket client a test can script: send a frame, read the next one
/// with a deadline, expect a close code. Talks to a live server over a real
/// loopback socket.
final class TestSocket: Sendable {
    enum Event: Sendable {
        case text(String)
        case binary
        case closed(code: Int?, reason: String?)
    }

    static let defaultTimeout: Duration = .seconds(10)

    /// Frames of these types never reach the test. By default `presence`:
    /// other users' sessions come and go around most tests, which are not
    /// about that; presence tests ask for everything.
    static let notAboutPresence: Set<String> = ["presence"]

    private let inbox: Inbox<Event>
    private let writer: WebSocketOutboundWriter
    private let task: Task<Void, Never>

    private init(inbox: Inbox<Event>, writer: WebSocketOutboundWriter, task: Task<Void, Never>) {
        self.inbox = inbox
        self.writer = writer
        self.task = task
    }

    static func connect(
        port: Int, path: String = "/v1/ws", token: String? = nil, ignoring ignored: Set<String> = notAboutPresence
    ) async throws -> TestSocket {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        let inbox = Inbox<Event>()
        let (writers, writerSink) = AsyncStream<WebSocketOutboundWriter>.makeStream()
        let task = Task {
            do {
                let close = try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)\(path)",
                    configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers, autoPing: .disabled),
                    logger: Logger(label: "test-socket")
                ) { inbound, outbound, _ in
                    writerSink.yield(outbound)
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        switch message {
                        case .text(let text):
                            if !ignored.isEmpty, let type = try? JSON.parse(text)["type"].string, ignored.contains(type) { continue }
                            inbox.push(.text(text))
                        case .binary: inbox.push(.binary)
                        }
                    }
                }
                inbox.push(.closed(code: close.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) }, reason: close?.reason))
            } catch {
                inbox.push(.closed(code: nil, reason: "\(error)"))
            }
            writerSink.finish()
        }
        var iterator = writers.makeAsyncIterator()
        guard let writer = await iterator.next() else {
            throw TestFailure("could not open a WebSocket to port \(port)")
        }
        return TestSocket(inbox: inbox, writer: writer, task: task)
    }

    /// Connects with a bearer header and waits for `ready`.
    static func ready(port: Int, token: String, ignoring ignored: Set<String> = notAboutPresence) async throws -> (TestSocket, JSON) {
        let socket = try await connect(port: port, token: token, ignoring: ignored)
        let ready = try await socket.next(type: "ready")
        return (socket, ready)
    }

    func send(_ object: [String: Any]) async throws {
        let data = try JSONSerialization.data(withJSONObject: object)
        try await sendText(String(decoding: data, as: UTF8.self))
    }

    func sendText(_ text: String) async throws {
        try await writer.write(.text(text))
    }

    func sendBinary(_ bytes: [UInt8]) async throws {
        try await writer.write(.binary(ByteBuffer(bytes: bytes)))
    }

    /// One frame exactly as given: fragments, or text that is not UTF-8.
    func sendFrame(opcode: WebSocketOpcode, fin: Bool, _ bytes: [UInt8]) async throws {
        try await writer.write(.custom(WebSocketFrame(fin: fin, opcode: opcode, data: ByteBuffer(bytes: bytes))))
    }

    func nextEvent(timeout: Duration = defaultTimeout) async throws -> Event {
        guard let event = await inbox.next(timeout: timeout) else {
            throw TestFailure("no frame within \(timeout)")
        }
        return event
    }

    /// The next text frame as a JSON object; fails on a close or a timeout.
    func next(timeout: Duration = defaultTimeout) async throws -> JSON {
        switch try await nextEvent(timeout: timeout) {
        case .text(let text): return try JSON.parse(text)
        case .binary: throw TestFailure("unexpected binary frame")
        case .closed(let code, let reason): throw TestFailure("socket closed (\(code.map(String.init) ?? "no code"), \(reason ?? ""))")
        }
    }

    /// The next frame, which must be of `type`.
    func next(type: String, timeout: Duration = defaultTimeout) async throws -> JSON {
        let frame = try await next(timeout: timeout)
        guard frame["type"].string == type else {
            throw TestFailure("expected a '\(type)' frame, got \(frame)")
        }
        return frame
    }

    /// Waits for the server to close the socket; returns the close code.
    /// Frames that arrive first are returned too, for the test to check.
    func closed(timeout: Duration = defaultTimeout) async throws -> (code: Int?, reason: String?, framesBefore: [JSON]) {
        var frames: [JSON] = []
        while true {
            switch try await nextEvent(timeout: timeout) {
            case .text(let text): frames.append(try JSON.parse(text))
            case .binary: continue
            case .closed(let code, let reason): return (code, reason, frames)
            }
        }
    }

    /// Asserts that nothing arrives for a while. Used for "X receives
    /// nothing"; pair it with a positive check that the event did happen
    /// elsewhere, so the wait is not the only evidence.
    func expectSilence(for duration: Duration = .milliseconds(300), sourceLocation: SourceLocation = #_sourceLocation) async {
        if let event = await inbox.next(timeout: duration) {
            Issue.record("expected no frame, got \(event)", sourceLocation: sourceLocation)
        }
    }

    /// Proves the socket is still usable and that nothing is queued ahead:
    /// the very next frame must be the pong.
    func expectAlive(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let id = "alive-\(UUID().uuidString.prefix(8))"
        try await send(["type": "ping", "id": id])
        let frame = try await next()
        #expect(frame["type"].string == "pong" && frame["re"].string == id, "expected pong, got \(frame)", sourceLocation: sourceLocation)
    }

    func close() async {
        try? await writer.close(.normalClosure, reason: nil)
        _ = await inbox.next(timeout: .seconds(5))
        task.cancel()
        await task.value
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
