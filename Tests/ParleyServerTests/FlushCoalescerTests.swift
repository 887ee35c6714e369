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
        var flushes = 0
        channel.pipeline.addHandler(FlushCounter { flushes += 1 }, position: .first).whenFailure { Issue.record($0) }
        for text in ["one", "two", "three"] {
            channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
        }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing leaves before the loop turns")
        channel.embeddedEventLoop.run()
        #expect(flushes == 1)
        for text in ["one", "two", "three"] {
            #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: text))
        }

        // The next turn flushes again.
        channel.writeAndFlush(ByteBuffer(string: "four"), promise: nil)
        channel.embeddedEventLoop.run()
        #expect(flushes == 2)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "four"))
        _ = try channel.finish()
    }

    /// Counts the flushes that reach the socket.
    final class FlushCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        let counted: () -> Void
        init(_ counted: @escaping () -> Void) { self.counted = counted }

        func flush(context: ChannelHandlerContext) {
            counted()
            context.flush()
        }
    }
}
