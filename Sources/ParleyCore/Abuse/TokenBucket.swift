/// A token bucket: `burst` tokens at most, refilled at `rate` per second.
/// Pure: the caller passes the time, so tests need no clock.
public struct TokenBucket: Sendable, Equatable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant

    public init(rate: Double, burst: Int, now: ContinuousClock.Instant) {
        self.rate = rate
        self.burst = Double(max(burst, 1))
        self.tokens = self.burst
        self.updated = now
    }

    /// Takes one token. Returns nil if there was one, otherwise how long
    /// until there will be.
    public mutating func take(now: ContinuousClock.Instant) -> Duration? {
        refill(now)
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        guard rate > 0 else { return .seconds(3600) }
        return .milliseconds(Int64(((1 - tokens) / rate * 1000).rounded(.up)))
    }

    /// Full again: nothing worth remembering about this user.
    public mutating func isFull(now: ContinuousClock.Instant) -> Bool {
        refill(now)
        return tokens >= burst
    }

    private mutating func refill(_ now: ContinuousClock.Instant) {
        guard now > updated else { return }
        let elapsed = now - updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * rate)
        updated = now
    }
}
