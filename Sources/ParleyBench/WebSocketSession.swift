// One WebSocket session, driven entirely by its channel's event loop.
//
// Why SwiftNIO directly and not HummingbirdWSClient: `WebSocketClient.run()`
// (swift-websocket's WSClient) suspends for the whole life of a connection
// and hands frames to the handler through an NIOAsyncChannel, so every
// session costs a Swift task, an async stream and a hop from the event loop
// to the cooperative pool for every frame. Its ClientBootstrap is also built
// internally with no way to bind a source address, and loopback gives only
// ~28,000 ephemeral ports per source address. Here a session is one channel
// handler: frames are handled on the event loop where they arrive, nothing is
// allocated per session beyond the channel, and source addresses can be
// spread over 127.0.0.x.

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// What a scenario does with a session's frames. Called only on the
/// session's event loop.
public protocol SessionSink: AnyObject {
    /// A text frame after `ready`. `bytes` is valid only during the call.
    func session(_ session: WebSocketSession, received type: FrameType, bytes: UnsafeRawBufferPointer)
    /// The session's `ready`, decoded.
    func sessionReady(_ session: WebSocketSession, ready: ReadyFrame)
    /// The connection ended.
    func sessionClosed(_ session: WebSocketSession)
}

/// The `ready` frame (docs/PROTOCOL.md §4.2).
public struct ReadyFrame: Decodable, Sendable {
    public struct Conversation: Decodable, Sendable {
        public var id: String
        public var last_seq: Int
    }
    public struct User: Decodable, Sendable { public var id: String }
    public var session_id: String
    public var user: User
    public var conversations: [Conversation]
}

public enum SessionError: Error, CustomStringConvertible {
    case closedBeforeReady(code: UInt16?, reason: String)
    case upgradeRefused
    case timeout

    public var description: String {
        switch self {
        case .closedBeforeReady(let code, let reason):
            return "closed before ready (\(code.map(String.init) ?? "no close frame")\(reason.isEmpty ? "" : " \(reason)"))"
        case .upgradeRefused: return "the server refused the WebSocket upgrade"
        case .timeout: return "no ready in time"
        }
    }
}

/// A session. Confined to `loop`: every property is read and written only on
/// it, which is why the class can be marked `@unchecked Sendable` and handed
/// to the code that orchestrates a run (it only calls `loop.execute`).
public final class WebSocketSession: ChannelInboundHandler, @unchecked Sendable {
    public typealias InboundIn = WebSocketFrame
    public typealias OutboundOut = WebSocketFrame

    public let loop: any EventLoop
    /// Index of the session in its scenario, for the scenario's tables.
    public let index: Int
    public var sink: (any SessionSink)?
    public private(set) var isReady = false
    public private(set) var isClosed = false
    public private(set) var closeCode: UInt16?
    public private(set) var closeReason = ""
    private var context: ChannelHandlerContext?
    private let readyPromise: EventLoopPromise<ReadyFrame>
    private var readyDone = false
    /// Fragments of a text message split over several frames.
    private var fragments: ByteBuffer?
    /// Writes made inside channelRead are flushed once in channelReadComplete.
    private var inRead = false
    private var needsFlush = false

    public var readyFuture: EventLoopFuture<ReadyFrame> { readyPromise.futureResult }

    init(loop: any EventLoop, index: Int, sink: (any SessionSink)?) {
        self.loop = loop
        self.index = index
        self.sink = sink
        self.readyPromise = loop.makePromise()
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        inRead = true
        switch frame.opcode {
        case .text:
            if frame.fin {
                handleText(frame.unmaskedData)
            } else {
                fragments = frame.unmaskedData
            }
        case .continuation:
            guard var buffer = fragments else { return }
            var part = frame.unmaskedData
            buffer.writeBuffer(&part)
            if frame.fin {
                fragments = nil
                handleText(buffer)
            } else {
                fragments = buffer
            }
        case .ping:
            // The server closes sockets that answer two pings with nothing
            // (4408); NIOWebSocket leaves pongs to the application.
            write(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
        case .connectionClose:
            var data = frame.unmaskedData
            closeCode = data.readInteger(as: UInt16.self)
            closeReason = data.readString(length: data.readableBytes) ?? ""
            // Echo the close (RFC 6455 closing handshake), then drop the socket.
            var echo = context.channel.allocator.buffer(capacity: 2)
            echo.writeInteger(closeCode ?? 1000)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)))
                .whenComplete { _ in context.close(promise: nil) }
        default:
            break
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        inRead = false
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    private func handleText(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            let type = FrameScanner.frameType(bytes)
            if !isReady {
                guard type == .ready else { return }
                guard !readyDone else { return }  // timed out already
                do {
                    let ready = try JSONDecoder().decode(ReadyFrame.self, from: Data(bytes))
                    isReady = true
                    readyDone = true
                    sink?.sessionReady(self, ready: ready)
                    readyPromise.succeed(ready)
                } catch {
                    readyDone = true
                    readyPromise.fail(error)
                    context?.close(promise: nil)
                }
                return
            }
            sink?.session(self, received: type, bytes: bytes)
        }
    }

    /// Sends one text frame. Inside a read it is flushed when the read
    /// batch ends; otherwise at once unless `flush` is false.
    public func sendText(_ text: String, flush: Bool = true) {
        guard let context, !isClosed else { return }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer), flush: flush)
    }

    private func write(_ frame: WebSocketFrame, flush: Bool = true) {
        guard let context else { return }
        context.write(wrapOutboundOut(frame), promise: nil)
        if inRead || !flush {
            needsFlush = true
        } else {
            context.flush()
        }
    }

    /// Flushes writes made with `flush: false`.
    public func flush() {
        guard let context, needsFlush else { return }
        needsFlush = false
        context.flush()
    }

    /// Ends the session. `abrupt` drops the TCP connection without a close
    /// frame, like a network failure; otherwise sends close 1000 first.
    public func close(abrupt: Bool) {
        guard let context, !isClosed else { return }
        if abrupt {
            // SO_LINGER 0 would send RST; a plain close sends FIN, which is
            // what a dying client process produces.
            context.close(promise: nil)
        } else {
            var data = context.channel.allocator.buffer(capacity: 2)
            data.writeInteger(UInt16(1000))
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)))
                .whenComplete { _ in context.close(promise: nil) }
        }
    }

    private func finish() {
        guard !isClosed else { return }
        isClosed = true
        if !readyDone {
            readyDone = true
            readyPromise.fail(SessionError.closedBeforeReady(code: closeCode, reason: closeReason))
        }
        sink?.sessionClosed(self)
        context = nil
    }

    func failBeforeUpgrade(_ error: any Error) {
        guard !readyDone else { return }
        readyDone = true
        readyPromise.fail(error)
    }
}

