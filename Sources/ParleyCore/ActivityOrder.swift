/// The order of activity across conversations: what the conversation list
/// sorts by. Times (`ts`) are for display only: several messages committed
/// in the same millisecond share one, and would then list in no real order.
public enum ActivityOrder {
    /// The stamp of a new activity (a conversation created, a message
    /// stored): microseconds since the epoch, moved past the last stamp
    /// given out, so that stamps grow strictly in the order they are taken,
    /// within one millisecond and when the clock steps back alike.
    public static func next(after last: Int64, now: Millis) -> Int64 {
        max(now * 1000, last + 1)
    }
}
