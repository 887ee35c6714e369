// The bench parses up to hundreds of thousands of frames a second on the
// same two cores as the server, so the hot frames (`message`, `ack`) are read
// with a byte scanner instead of a JSON decoder. It relies on the server's
// compact JSON (docs/PROTOCOL.md §1.1): no spaces, and a `"` inside a string
// value is always escaped, so `"key":` cannot appear inside a value. Rare
// frames (ready, history, error) go through JSONDecoder.

import Foundation
import NIOCore

public enum FrameScanner {
    /// Byte range of the string value of `"key":"…"`, searching from `from`.
    @inline(__always)
    public static func stringValue(_ key: StaticString, in b: UnsafeRawBufferPointer, from: Int = 0) -> Range<Int>? {
        guard let start = valueStart(key, in: b, from: from), start < b.count, b[start] == UInt8(ascii: "\"") else { return nil }
        var i = start + 1
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\\") { i += 2; continue }
            if c == UInt8(ascii: "\"") { return (start + 1)..<i }
            i += 1
        }
        return nil
    }

    /// The non-negative integer value of `"key":123`.
    @inline(__always)
    public static func intValue(_ key: StaticString, in b: UnsafeRawBufferPointer, from: Int = 0) -> Int? {
        guard var i = valueStart(key, in: b, from: from) else { return nil }
        var v = 0, n = 0
        while i < b.count, b[i] >= 48, b[i] <= 57, n < 18 {
            v = v * 10 + Int(b[i] - 48)
            i += 1; n += 1
        }
        return n > 0 ? v : nil
    }

    /// True when `"key":true`.
    public static func boolValue(_ key: StaticString, in b: UnsafeRawBufferPointer, from: Int = 0) -> Bool? {
        guard let i = valueStart(key, in: b, from: from), i < b.count else { return nil }
        if b[i] == UInt8(ascii: "t") { return true }
        if b[i] == UInt8(ascii: "f") { return false }
        return nil
    }

    /// Index just after `"key":`.
    @inline(__always)
    static func valueStart(_ key: StaticString, in b: UnsafeRawBufferPointer, from: Int) -> Int? {
        let k = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        let need = k.count + 3  // quotes and colon
        guard b.count >= need else { return nil }
        var i = from
        let last = b.count - need
        while i <= last {
            if b[i] == UInt8(ascii: "\""), b[i + 1 + k.count] == UInt8(ascii: "\""), b[i + 2 + k.count] == UInt8(ascii: ":") {
                var match = true
                for j in 0..<k.count where b[i + 1 + j] != k[j] { match = false; break }
                if match { return i + need }
            }
            i += 1
        }
        return nil
    }

    /// The value of the leading `{"type":"…"` as a small enum.
    public static func frameType(_ b: UnsafeRawBufferPointer) -> FrameType {
        // `{"type":"` is 9 bytes; the name runs to the next quote.
        let head: StaticString = #"{"type":""#
        guard b.count > 10, memcmp(b.baseAddress!, head.utf8Start, 9) == 0 else { return .other }
        var end = 9
        while end < b.count, end < 24, b[end] != UInt8(ascii: "\"") { end += 1 }
        let name = UnsafeRawBufferPointer(rebasing: b[9..<end])
        for (candidate, type) in FrameScanner.types where candidate.count == name.count {
            if candidate.elementsEqual(name) { return type }
        }
        return .other
    }

    static let types: [([UInt8], FrameType)] = [
        (Array("message".utf8), .message), (Array("ack".utf8), .ack), (Array("ready".utf8), .ready),
        (Array("history".utf8), .history), (Array("error".utf8), .error), (Array("notice".utf8), .notice),
    ]
}

public enum FrameType: Sendable {
    case message, ack, ready, history, error, notice, other
}

/// The fields of a `message` event the bench needs.
public struct ScannedMessage {
    public var conversationID: Range<Int>
    public var seq: Int
    /// Send stamp from the text, nil for a text that is not the bench's.
    public var stamp: UInt64?

    /// Reads `{"type":"message","message":{"id":…,"conversation_id":"…","seq":N,"sender":{…},"text":"t=…"…}}`.
    public static func scan(_ b: UnsafeRawBufferPointer) -> ScannedMessage? {
        guard let conv = FrameScanner.stringValue("conversation_id", in: b, from: 28),
              let seq = FrameScanner.intValue("seq", in: b, from: conv.upperBound),
              let text = FrameScanner.stringValue("text", in: b, from: conv.upperBound)
        else { return nil }
        let stamp = LatencyStamp.stamp(fromText: UnsafeRawBufferPointer(rebasing: b[text]))
        return ScannedMessage(conversationID: conv, seq: seq, stamp: stamp)
    }
}

/// The fields of an `ack` the bench needs.
public struct ScannedAck {
    public var stamp: UInt64?
    public var conversationID: Range<Int>
    public var seq: Int
    public var duplicate: Bool

    /// Reads `{"type":"ack","re":"…","conversation_id":"…","seq":N,"message_id":"…","ts":…,"duplicate":false}`.
    public static func scan(_ b: UnsafeRawBufferPointer) -> ScannedAck? {
        guard let re = FrameScanner.stringValue("re", in: b, from: 12),
              let conv = FrameScanner.stringValue("conversation_id", in: b, from: re.upperBound),
              let seq = FrameScanner.intValue("seq", in: b, from: conv.upperBound)
        else { return nil }
        let dup = FrameScanner.boolValue("duplicate", in: b, from: conv.upperBound) ?? false
        return ScannedAck(stamp: LatencyStamp.stamp(fromID: UnsafeRawBufferPointer(rebasing: b[re])), conversationID: conv, seq: seq, duplicate: dup)
    }
}
