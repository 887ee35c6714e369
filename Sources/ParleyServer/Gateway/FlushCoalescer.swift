import NIOCore

/// Turns the flush that follows every outgoing frame into one flush per turn
/// of the event loop. The WebSocket writer flushes each frame it is handed,
/// so a busy session would cost one `writev` per frame; deferred to the end
/// of the queued work, the frames written meanwhile leave in one call. (The
/// same idea as Netty's FlushConsolidationHandler.) Writes still count
/// towards the channel's writability at once, so backpressure is unchanged.
final class FlushCoalescer: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var flushScheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            context.flush()
        }
    }

    /// Installed nearest the socket, so it sees every flush of the pipeline.
    static func install(on channel: any Channel) async throws {
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(FlushCoalescer(), position: .first)
        }.get()
    }
}
