/// Counts events within a sliding window: "more than N within T".
/// Keeps at most `limit + 1` times.
public struct EventWindow: Sendable, Equatable {
    public let limit: Int
    public let window: Duration
    private var times: [ContinuousClock.Instant] = []

    public init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Records an event; returns true once more than `limit` fell within the window.
    public mutating func record(now: ContinuousClock.Instant) -> Bool {
        forget(before: now)
        times.append(now)
        if times.count > limit + 1 { times.removeFirst(times.count - limit - 1) }
        return times.count > limit
    }

    /// Whether more than `limit` events fell within the window (without recording one).
    public mutating func isOver(now: ContinuousClock.Instant) -> Bool {
        forget(before: now)
        return times.count > limit
    }

    /// How long until the window holds `limit` events or fewer again.
    public mutating func retryAfter(now: ContinuousClock.Instant) -> Duration {
        forget(before: now)
        guard times.count > limit, let oldest = times.dropLast(limit).last else { return .zero }
        return oldest + window - now
    }

    public mutating func isEmpty(now: ContinuousClock.Instant) -> Bool {
        forget(before: now)
        return times.isEmpty
    }

    private mutating func forget(before now: ContinuousClock.Instant) {
        let cutoff = now - window
        if let keep = times.firstIndex(where: { $0 > cutoff }) {
            if keep > 0 { times.removeFirst(keep) }
        } else {
            times.removeAll()
        }
    }
}
