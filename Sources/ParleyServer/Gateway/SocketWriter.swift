import NIOCore

/// The session's end of its socket, nearest to it in the channel pipeline.
///
/// It writes the session's outbox: the frames there are already framed for
/// the wire, so a wake-up from the outbox costs one task on the event loop,
/// and every frame queued by then leaves in one write and one flush, below
/// the WebSocket frame encoder. It writes only while the socket takes more;
/// the rest waits in the outbox, which counts it against the session's
/// limit, until the socket takes more.
///
/// The close frame goes last, once everything queued before it is written.
/// If it answers the client's close, the socket is closed as soon as it is
/// out; otherwise the client has a grace period to answer it (the closing
/// handshake) or, if the socket is stuck behind a client that does not
/// read, to take it at all; then the socket is closed, so a stalled client
/// never holds its memory or its session.
///
/// It also notes every read in `Liveness` and ends the outbox with the socket.
final class SocketWriter: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How long a client has to answer our close frame before the socket is dropped.
    static let closeGrace: TimeAmount = .seconds(5)

    private let liveness: Liveness
    private let closeGrace: TimeAmount
    private var outbox: Outbox?
    private var context: ChannelHandlerContext?
    private var graceTimer: Scheduled<Void>?

    private init(liveness: Liveness, closeGrace: TimeAmount) {
        self.liveness = liveness
        self.closeGrace = closeGrace
    }

    /// A writer and its outbox, whose wake-ups run the writer on `eventLoop`.
    static func make(
        liveness: Liveness, limit: Int, eventLoop: any EventLoop, closeGrace: TimeAmount = closeGrace
    ) -> (SocketWriter, Outbox) {
        let writer = SocketWriter(liveness: liveness, closeGrace: closeGrace)
        let bound = NIOLoopBound(writer, eventLoop: eventLoop)
        // One closure for every wake-up, not one allocated per wake-up.
        let writeOut: @Sendable () -> Void = { bound.value.writeOut() }
        let outbox = Outbox(limit: limit) { eventLoop.execute(writeOut) }
        writer.outbox = outbox
        return (writer, outbox)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        liveness.touch()
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writeOut() }
        context.fireChannelWritabilityChanged()
    }

    private func writeOut() {
        guard let context, let outbox else { return }
        let channel = context.channel
        let done = outbox.writeOut(hasRoom: { channel.isWritable }) { frame in
            context.write(wrapOutboundOut(frame.bytes), promise: nil)
        }
        if let close = done.closeFrame {
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(WireFrame.close(code: close.code, reason: close.reason).bytes), promise: written)
            if done.peerClosed {
                written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                return
            }
        } else if done.written > 0 {
            context.flush()
        }
        if done.closing, graceTimer == nil {
            graceTimer = context.eventLoop.assumeIsolated().scheduleTask(in: closeGrace) {
                context.close(promise: nil)
            }
        }
    }

    /// The socket is gone: so is what was queued for it. Also breaks the
    /// cycle between this writer and the outbox's wake-up.
    private func end() {
        outbox?.finish()
        outbox = nil
        graceTimer?.cancel()
    }
}
