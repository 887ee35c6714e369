import NIOCore

/// One server → client WebSocket frame (text, or a control frame), header and
/// payload in a single buffer, ready for the socket. Encoded once per event, the same bytes go
/// to every recipient: a socket write is then one iovec per frame, with no
/// per-recipient header to allocate.
struct WireFrame: Sendable {
    /// The whole frame as it goes on the wire.
    let bytes: ByteBuffer

    /// The largest header a server frame needs: 2 bytes, plus 8 for a 64-bit length.
    static let maxHeaderBytes = 10

    /// Frames `buffer`'s readable bytes (the JSON text) in place. Writers that
    /// leave `maxHeaderBytes` free before the reader index (`JSONWriter(framed:)`)
    /// get no copy.
    init(text buffer: consuming ByteBuffer) {
        self.init(opcode: 0x1, payload: buffer)
    }

    init(text: String) {
        self.init(text: ByteBuffer(string: text))
    }

    /// The server's keepalive ping.
    static let ping = WireFrame(opcode: 0x9, payload: ByteBuffer(string: "parley"))

    /// The answer to a client's ping, carrying its payload back.
    static func pong(_ payload: ByteBuffer) -> WireFrame {
        WireFrame(opcode: 0xA, payload: payload)
    }

    /// A close frame: the code, then the reason, cut to the 125 bytes a
    /// control frame may carry (at a character boundary).
    static func close(code: UInt16, reason: String) -> WireFrame {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        var reason = Substring(reason)
        while reason.utf8.count > 123 { reason.removeLast() }
        payload.writeSubstring(reason)
        return WireFrame(opcode: 0x8, payload: payload)
    }

    private init(opcode: UInt8, payload buffer: consuming ByteBuffer) {
        let length = buffer.readableBytes
        let headerBytes = length < 126 ? 2 : length <= Int(UInt16.max) ? 4 : 10
        if buffer.readerIndex < headerBytes {
            var copy = ByteBufferAllocator().buffer(capacity: headerBytes + length)
            copy.moveWriterIndex(forwardBy: headerBytes)
            copy.moveReaderIndex(forwardBy: headerBytes)
            copy.writeImmutableBuffer(buffer)
            buffer = copy
        }
        let start = buffer.readerIndex - headerBytes
        // FIN and the opcode; a server never masks.
        buffer.setInteger(0x80 | opcode, at: start)
        switch headerBytes {
        case 2: buffer.setInteger(UInt8(length), at: start + 1)
        case 4:
            buffer.setInteger(UInt8(126), at: start + 1)
            buffer.setInteger(UInt16(length), at: start + 2)
        default:
            buffer.setInteger(UInt8(127), at: start + 1)
            buffer.setInteger(UInt64(length), at: start + 2)
        }
        buffer.moveReaderIndex(to: start)
        bytes = buffer
    }

    /// The frame's payload, without the header.
    var payload: ByteBuffer {
        var payload = bytes
        let lengthByte = payload.getInteger(at: payload.readerIndex + 1, as: UInt8.self) ?? 0
        payload.moveReaderIndex(forwardBy: lengthByte < 126 ? 2 : lengthByte == 126 ? 4 : 10)
        return payload
    }
}
