import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import ParleyServer

/// The writer between a session's outbox and its socket, on an embedded channel.
@Suite("Socket writer")
struct SocketWriterTests {
    /// A channel with a writer nearest the socket, and a counter of the flushes that reach it.
    func channel(limit: Int = 1 << 20) throws -> (EmbeddedChannel, Outbox, FlushCounter, Liveness) {
        let channel = EmbeddedChannel()
        let liveness = Liveness()
        let (writer, outbox) = SocketWriter.make(liveness: liveness, limit: limit, eventLoop: channel.embeddedEventLoop)
        try channel.pipeline.syncOperations.addHandler(writer, position: .first)
        let counter = FlushCounter()
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        return (channel, outbox, counter, liveness)
    }

    /// Decodes what the socket got as server → client WebSocket frames.
    func textFrames(_ channel: EmbeddedChannel) throws -> [String] {
        var wire = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&chunk) }
        var texts: [String] = []
        while wire.readableBytes > 0 {
            guard let first = wire.readInteger(as: UInt8.self), let second = wire.readInteger(as: UInt8.self) else { break }
            #expect(first == 0x81, "FIN and text")
            #expect(second & 0x80 == 0, "a server never masks")
            var length = Int(second & 0x7F)
            if length == 126 { length = Int(wire.readInteger(as: UInt16.self) ?? 0) }
            if length == 127 { length = Int(wire.readInteger(as: UInt64.self) ?? 0) }
            guard let text = wire.readString(length: length) else { break }
            texts.append(text)
        }
        #expect(wire.readableBytes == 0, "the bytes are whole frames")
        return texts
    }

    @Test("frames queued before the loop turns leave together, framed for the wire, in one flush")
    func batches() throws {
        let (channel, outbox, counter, _) = try channel()
        let long = String(repeating: "é", count: 40_000)  // 80,000 bytes: a 64-bit length
        let texts = ["one", String(repeating: "m", count: 300), long]
        for text in texts { outbox.send(WireFrame(text: text)) }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing leaves before the loop turns")
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        #expect(try textFrames(channel) == texts)
        _ = try channel.finish()
    }

    @Test("a socket that takes no more keeps the rest in the outbox until it is writable again")
    func backpressure() throws {
        let (channel, outbox, _, _) = try channel(limit: 1000)
        channel.isWritable = false
        for text in ["a", "b", "c"] { outbox.send(WireFrame(text: text)) }
        channel.embeddedEventLoop.run()
        #expect(try textFrames(channel).isEmpty)
        #expect(!outbox.send(WireFrame(text: String(repeating: "x", count: 1000))), "what waits counts against the limit")

        let (open, openOutbox, _, _) = try self.channel()
        open.isWritable = false
        for text in ["a", "b", "c"] { openOutbox.send(WireFrame(text: text)) }
        open.embeddedEventLoop.run()
        open.isWritable = true
        open.pipeline.fireChannelWritabilityChanged()
        #expect(try textFrames(open) == ["a", "b", "c"])
        _ = try channel.finish()
        _ = try open.finish()
    }

    @Test("reads touch liveness; a closed socket ends the outbox")
    func readsAndEnd() throws {
        let (channel, outbox, _, liveness) = try channel()
        let before = NIODeadline.now().uptimeNanoseconds
        try channel.writeInbound(ByteBuffer(string: "anything"))
        #expect(liveness.readSince(before))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "anything"), "reads pass on")
        _ = try channel.finish()
        #expect(outbox.isClosing)
        #expect(!outbox.send(WireFrame(text: "after the end")))
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
