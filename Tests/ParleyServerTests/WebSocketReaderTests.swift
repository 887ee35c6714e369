import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing

@testable import ParleyServer

/// The reader on an embedded channel, with a connection that only records:
/// what reaches the connection, and when the socket is read.
@Suite("WebSocket reader")
struct WebSocketReaderTests {
    final class RecordingReceiver: MessageReceiver {
        let busy = Atomic(false)
        let texts = Mutex<[String]>([])

        func received(_ text: String) { texts.withLock { $0.append(text) } }
        func receivedBinary() {}
        var isBusy: Bool { busy.load(ordering: .relaxed) }
        func serverStopping() {}
        func ended() {}
    }

    /// Counts the reads that reach the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        private(set) var reads = 0

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    @Test("while the connection is busy the socket is not read; resuming reads once, and only if a read was held back")
    func readsWaitWhileBusy() throws {
        let channel = EmbeddedChannel()
        let receiver = RecordingReceiver()
        let reader = WebSocketReader(connection: receiver, outbox: Outbox(limit: 1 << 20), maxMessageBytes: 1024)
        let counter = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(reader)

        channel.read()
        #expect(counter.reads == 1, "idle: reads go through")

        receiver.busy.store(true, ordering: .relaxed)
        channel.read()
        channel.read()
        #expect(counter.reads == 1, "busy: held back")
        receiver.busy.store(false, ordering: .relaxed)
        reader.resumeReading()
        #expect(counter.reads == 2, "one read for those held back")
        reader.resumeReading()
        #expect(counter.reads == 2, "nothing held back now")
        _ = try channel.finish()
    }

    @Test("a text message in fragments reaches the connection whole, once")
    func fragments() throws {
        let channel = EmbeddedChannel()
        let receiver = RecordingReceiver()
        try channel.pipeline.syncOperations.addHandler(
            WebSocketReader(connection: receiver, outbox: Outbox(limit: 1 << 20), maxMessageBytes: 1024))
        try channel.writeInbound(WebSocketFrame(fin: false, opcode: .text, maskKey: Self.zeroMask, data: ByteBuffer(string: "{\"type\":")))
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .continuation, maskKey: Self.zeroMask, data: ByteBuffer(string: "\"ping\"}")))
        #expect(receiver.texts.withLock { $0 } == [#"{"type":"ping"}"#])
        _ = try channel.finish()
    }

    /// Masks with zeros: the payload stays readable, and the frame is masked.
    static let zeroMask = WebSocketMaskingKey([0, 0, 0, 0])

    @Test("an unmasked frame is not read: the connection is closed (RFC 6455 §5.1)")
    func unmaskedFrame() throws {
        let channel = EmbeddedChannel()
        let receiver = RecordingReceiver()
        let outbox = Outbox(limit: 1 << 20)
        try channel.pipeline.syncOperations.addHandler(WebSocketReader(connection: receiver, outbox: outbox, maxMessageBytes: 1024))
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: #"{"type":"ping"}"#)))
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .text, maskKey: Self.zeroMask, data: ByteBuffer(string: "late")))
        #expect(receiver.texts.withLock { $0 }.isEmpty, "neither the unmasked frame nor anything after it")
        #expect(!outbox.send(.pong(ByteBuffer())), "the outbox is closing (the code, 1002, is checked over a real socket)")
        _ = try channel.finish()
    }
}
