import NIOCore
import NIOEmbedded
import Testing

@testable import ParleyServer

/// Frames flushed one by one leave together, once the event loop turns.
@Suite("Flush coalescing")
struct FlushCoalescerTests {
    @Test("flushes within one turn of the loop become one, after the writes queued beside them")
    func coalesces() throws {
        let channel = EmbeddedChannel(handler: FlushCoalescer())
        let counter = FlushCounter()
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        for text in ["one", "two", "three"] {
            channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
        }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing leaves before the loop turns")
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        for text in ["one", "two", "three"] {
            #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: text))
        }

        // The next turn flushes again.
        channel.writeAndFlush(ByteBuffer(string: "four"), promise: nil)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 2)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "four"))
        _ = try channel.finish()
    }

    /// Counts the flushes that reach the socket.
    final class FlushCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        private(set) var flushes = 0

        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }
}
