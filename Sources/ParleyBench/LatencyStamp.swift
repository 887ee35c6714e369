// Latency is measured with one clock: this process's monotonic clock. The
// send time travels inside the message text (which every recipient sees)
// and inside the frame id (which comes back as the ack's `re`), so no table
// of in-flight messages is needed and the server's clock plays no part.

import NIOCore

/// Nanoseconds of the process's monotonic clock (CLOCK_MONOTONIC on Linux).
@inline(__always)
public func monotonicNanos() -> UInt64 {
    NIODeadline.now().uptimeNanoseconds
}

public enum LatencyStamp {
    /// Message text for a stamp: `t=<nanos>`, then a space and `padding`
    /// bytes of filler so that message size can be varied.
    public static func text(stamp: UInt64, padding: Int) -> String {
        var s = "t=\(stamp)"
        if padding > 0 {
            s += " " + String(repeating: "x", count: padding)
        }
        return s
    }

    /// Reads the stamp back from message text bytes; nil when the text is not
    /// one of ours (e.g. a message someone else sent into the conversation).
    public static func stamp<C: Collection>(fromText text: C) -> UInt64? where C.Element == UInt8 {
        var it = text.makeIterator()
        guard it.next() == UInt8(ascii: "t"), it.next() == UInt8(ascii: "=") else { return nil }
        return digits(&it, spaceEnds: true)
    }

    /// Reads a frame id / ack `re` of the form `<nanos>` (only digits).
    public static func stamp<C: Collection>(fromID id: C) -> UInt64? where C.Element == UInt8 {
        var it = id.makeIterator()
        return digits(&it, spaceEnds: false)
    }

    /// Decimal digits up to the end (or, in a text, up to the space before the padding).
    private static func digits<I: IteratorProtocol>(_ it: inout I, spaceEnds: Bool) -> UInt64? where I.Element == UInt8 {
        var value: UInt64 = 0
        var count = 0
        while let b = it.next() {
            guard b >= 48, b <= 57 else {
                if spaceEnds, b == UInt8(ascii: " "), count > 0 { break }
                return nil
            }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(b - 48))
            guard !o1, !o2 else { return nil }
            value = a
            count += 1
        }
        return count > 0 ? value : nil
    }

    /// Latency from a stamp to `now`, clamped at 0 (a stamp from the future
    /// can only come from a forged or corrupted text).
    @inline(__always)
    public static func elapsed(from stamp: UInt64, to now: UInt64) -> UInt64 {
        now >= stamp ? now - stamp : 0
    }
}
