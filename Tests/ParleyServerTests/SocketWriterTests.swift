import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
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

    @Test("once a close is asked for, a client that does not answer it is dropped after the grace period")
    func closeGrace() throws {
        let channel = EmbeddedChannel()
        let (writer, outbox) = SocketWriter.make(liveness: Liveness(), limit: 1 << 20, eventLoop: channel.embeddedEventLoop, closeGrace: .seconds(5))
        try channel.pipeline.syncOperations.addHandler(writer, position: .first)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        outbox.close(code: 4401, reason: "token revoked")
        channel.embeddedEventLoop.run()
        var close = ByteBuffer(bytes: [0x88, 15, 0x11, 0x31])
        close.writeString("token revoked")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == close, "the close frame: FIN, opcode 8, code 4401, reason")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(4_999))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive, "dropped")
    }

    @Test("answering the client's close, the close frame goes after what was queued, and then the socket closes")
    func answeredClose() throws {
        let (channel, outbox, _, _) = try channel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        outbox.send(WireFrame(text: "last words"))
        #expect(!outbox.peerClosed(code: 1001))
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == WireFrame(text: "last words").bytes)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0x88, 2, 0x03, 0xE9]), "1001 echoed")
        #expect(!channel.isActive, "closed without waiting for the grace period")
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

/// A connection's timers, on an embedded event loop with a clock of our own.
@Suite("Connection deadlines")
struct ConnectionDeadlineTests {
    let loop = EmbeddedEventLoop()
    let socket = FakeSocket()
    let liveness = Liveness()
    let clock = ManualMillis()

    final class ManualMillis: Sendable {
        private let value = Atomic<Int64>(1_000_000)
        var now: Int64 { value.load(ordering: .relaxed) }
        func add(_ milliseconds: Int64) { value.add(milliseconds, ordering: .relaxed) }
    }

    /// Deadlines for `socket` (the suite's own by default), on the suite's clock.
    func deadlines(for socket: FakeSocket? = nil, pingInterval: Duration = .seconds(1)) -> ConnectionDeadlines {
        let clock = self.clock
        return ConnectionDeadlines(
            eventLoop: loop, outbox: (socket ?? self.socket).outbox, liveness: liveness, pingInterval: pingInterval,
            now: { clock.now })
    }

    /// Nothing closes the socket until `milliseconds` have passed; then `close` does.
    func expectClose(after milliseconds: Int64, _ close: Outbox.Close) {
        advance(milliseconds - 1)
        #expect(socket.closes.isEmpty)
        advance(1)
        #expect(socket.closes == [close])
    }

    func advance(_ milliseconds: Int64) {
        clock.add(milliseconds)
        loop.advanceTime(by: .milliseconds(milliseconds))
    }

    @Test("no authentication in time closes with 4401; authenticating in time does not")
    func authentication() {
        deadlines().expectAuthentication(within: .seconds(5)) { false }
        expectClose(after: 5_000, Outbox.Close(code: 4401, reason: "authentication timeout"))

        let onTime = FakeSocket()
        deadlines(for: onTime).expectAuthentication(within: .seconds(5)) { true }
        advance(5_000)
        #expect(onTime.closes.isEmpty)
    }

    @Test("a client that sends nothing is pinged twice, then closed with 4408; one that answers is not")
    func pings() {
        let deadlines = deadlines()
        deadlines.watch(until: clock.now + 3_600_000)
        advance(1_000)
        #expect(socket.written.map { String(buffer: $0) } == ["parley"], "a ping")
        liveness.touch()
        advance(1_000)
        advance(1_000)
        #expect(socket.written.count == 3 && socket.closes.isEmpty, "answered: pinged again, still open")
        advance(1_000)
        #expect(socket.closes == [Outbox.Close(code: 4408, reason: "no answer to two pings")])
        deadlines.stop()
    }

    @Test("an expired token closes with 4401, even between pings; stop cancels everything")
    func expiry() {
        let deadlines = deadlines(pingInterval: .seconds(10))
        deadlines.watch(until: clock.now + 1_500)
        expectClose(after: 1_500, Outbox.Close(code: 4401, reason: "token expired"))

        let other = FakeSocket()
        let stopped = self.deadlines(for: other)
        stopped.watch(until: clock.now + 100)
        stopped.stop()
        advance(5_000)
        #expect(other.closes.isEmpty && other.written.isEmpty)
    }
}
