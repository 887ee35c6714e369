/// Milliseconds since the Unix epoch: every time on the wire.
public typealias Millis = Int64

extension Duration {
    /// The duration in whole milliseconds, rounded down: for wire fields
    /// and times in `Millis`.
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
