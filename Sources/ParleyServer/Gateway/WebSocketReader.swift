import NIOCore
import NIOWebSocket

/// The reading half of the WebSocket protocol for one gateway connection, on
/// the socket's event loop, after NIO's frame decoder: puts fragmented
/// messages together (within the size limit), checks text is UTF-8, answers
/// pings and the client's close, and hands whole messages to the connection.
///
/// It runs without a task: an idle connection is these handlers and its
/// state, nothing suspended. While the connection works through frames that
/// had to wait (a history query, a full send window), it stops reading the
/// socket, so a client cannot queue requests without limit.
final class WebSocketReader: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let connection: any MessageReceiver
    private let outbox: Outbox
    private let maxMessageBytes: Int
    /// A message whose last fragment has not arrived yet.
    private var partial: (opcode: WebSocketOpcode, data: ByteBuffer)?
    /// After a protocol error or the client's close: data frames are ignored.
    private var stopped = false
    /// The channel asked to read while the connection was busy.
    private var readWithheld = false
    private var context: ChannelHandlerContext?

    init(connection: any MessageReceiver, outbox: Outbox, maxMessageBytes: Int) {
        self.connection = connection
        self.outbox = outbox
        self.maxMessageBytes = maxMessageBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connection.ended()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.ended()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // RFC 6455 §5.1: a server closes the connection on an unmasked frame.
        guard frame.maskKey != nil else {
            if !stopped { fail(CloseCode.protocolError, "client frames must be masked") }
            return
        }
        switch frame.opcode {
        case .connectionClose:
            closeReceived(frame, context: context)
        case .ping:
            // The decoder refuses fragmented and oversized control frames.
            if !stopped { outbox.send(.pong(frame.unmaskedData)) }
        case .pong:
            break  // `Liveness` has seen the bytes.
        case .text, .binary, .continuation:
            guard !stopped else { return }
            guard frame.reservedBits.isEmpty else { return fail(CloseCode.protocolError, "reserved bits set without an extension") }
            assemble(frame)
        default:
            fail(CloseCode.protocolError, "unknown opcode")
        }
    }

    func read(context: ChannelHandlerContext) {
        if connection.isBusy {
            readWithheld = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            connection.serverStopping()
        } else if case .inputClosed? = event as? ChannelEvent {
            // The client went without a close frame (the server allows half-closure for HTTP).
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Frame errors were answered by NIO's protocol error handler, which
        // closes the socket; anything else (a reset) ends it too.
        if !(error is NIOWebSocketError) { context.close(promise: nil) }
    }

    /// The connection has worked through what waited: read again if the
    /// channel asked to meanwhile.
    func resumeReading() {
        guard readWithheld, let context else { return }
        readWithheld = false
        context.read()
    }

    // MARK: Messages

    private func assemble(_ frame: WebSocketFrame) {
        if frame.opcode == .continuation {
            guard var message = partial else { return fail(CloseCode.protocolError, "a continuation frame with no message to continue") }
            guard message.data.readableBytes + frame.data.readableBytes <= maxMessageBytes else { return fail(CloseCode.messageTooBig, "message too big") }
            partial = nil  // Unshares the buffer, so that appending does not copy it.
            var data = frame.unmaskedData
            message.data.writeBuffer(&data)
            if frame.fin { deliver(message.opcode, message.data) } else { partial = message }
        } else {
            guard partial == nil else { return fail(CloseCode.protocolError, "a new message before the last one ended") }
            if frame.fin { deliver(frame.opcode, frame.unmaskedData) } else { partial = (frame.opcode, frame.unmaskedData) }
        }
    }

    private func deliver(_ opcode: WebSocketOpcode, _ data: ByteBuffer) {
        guard opcode == .text else { return connection.receivedBinary() }
        guard let text = String(validating: data.readableBytesView, as: UTF8.self) else {
            return fail(CloseCode.invalidText, "text is not valid UTF-8")
        }
        connection.received(text)
    }

    /// Closes with `code` after what is queued; the client's further data is ignored.
    private func fail(_ code: UInt16, _ reason: String) {
        stopped = true
        partial = nil
        outbox.close(code: code, reason: reason)
    }

    // MARK: Closing

    private func closeReceived(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        stopped = true
        partial = nil
        if outbox.peerClosed(code: Self.answer(to: frame.unmaskedData)) { context.close(promise: nil) }
    }

    /// The code that answers a close frame's payload (RFC 6455 §5.5.1, §7.4):
    /// its own code if valid, 1002 for a bad code, 1007 for a reason that is
    /// not UTF-8, 1000 for none.
    static func answer(to payload: ByteBuffer) -> UInt16 {
        var payload = payload
        guard payload.readableBytes > 0 else { return CloseCode.normal }
        guard let code = payload.readInteger(as: UInt16.self) else { return CloseCode.protocolError }
        let valid = (1000...1003).contains(code) || (1007...1011).contains(code) || (3000...4999).contains(code)
        guard valid else { return CloseCode.protocolError }
        guard String(validating: payload.readableBytesView, as: UTF8.self) != nil else { return CloseCode.invalidText }
        return code
    }
}
