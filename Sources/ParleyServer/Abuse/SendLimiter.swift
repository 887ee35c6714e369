import ParleyCore
import Synchronization

/// The send rate limit of each user, across all their sessions and the HTTP
/// send route: a token bucket per user. Sharded so that users do not contend;
/// full buckets are forgotten, so memory follows the users sending right now.
final class SendLimiter: Sendable {
    private final class Shard: Sendable {
        let buckets = Mutex<[UserKey: TokenBucket]>([:])
    }

    /// Past this many buckets a shard drops the full ones.
    private static let sweepThreshold = 4096

    let rate: Double
    let burst: Int
    private let shards: [Shard]

    /// `rate` messages per second with bursts of `burst`; a rate of 0 turns the limit off.
    init(rate: Double, burst: Int, shardCount: Int = 16) {
        self.rate = rate
        self.burst = burst
        shards = (0..<shardCount).map { _ in Shard() }
    }

    var isEnabled: Bool { rate > 0 }

    /// Takes a token for one message, or throws `rate_limited` with when to retry.
    func admit(_ user: UserKey, now: ContinuousClock.Instant = .now) throws(ChatError) {
        guard isEnabled else { return }
        let shard = shards[Int(UInt64(bitPattern: user.rawValue) % UInt64(shards.count))]
        let wait: Duration? = shard.buckets.withLock { buckets in
            if buckets.count > Self.sweepThreshold {
                buckets = buckets.filter { _, bucket in
                    var bucket = bucket
                    return !bucket.isFull(now: now)
                }
            }
            var bucket = buckets[user] ?? TokenBucket(rate: rate, burst: burst, now: now)
            let wait = bucket.take(now: now)
            buckets[user] = bucket
            return wait
        }
        if let wait {
            throw ChatError.rateLimited("you are sending too fast: wait before sending again", retryAfter: wait)
        }
    }
}

/// Failed logins by handle and by address: after `limit` failures within
/// `window`, further tries of that handle (or from that address) are refused
/// until the oldest failure leaves the window. The handle is counted whether or
/// not it exists, so the answer reveals nothing.
final class LoginThrottle: Sendable {
    private struct State {
        var byHandle: [String: EventWindow] = [:]
        var byAddress: [String: EventWindow] = [:]
    }

    private static let sweepThreshold = 10_000

    let limit: Int
    let window: Duration
    private let state = Mutex(State())

    init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Throws `rate_limited` if either key has used up its failures.
    func check(handle: String, address: String?, now: ContinuousClock.Instant = .now) throws(ChatError) {
        let wait: Duration = state.withLock { state in
            var wait = Duration.zero
            if var events = state.byHandle[handle], events.isOver(now: now) {
                wait = max(wait, events.retryAfter(now: now))
            }
            if let address, var events = state.byAddress[address], events.isOver(now: now) {
                wait = max(wait, events.retryAfter(now: now))
            }
            return wait
        }
        if wait > .zero {
            throw ChatError.rateLimited("too many failed logins: wait before trying again", retryAfter: wait)
        }
    }

    func recordFailure(handle: String, address: String?, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            if state.byHandle.count + state.byAddress.count > Self.sweepThreshold {
                state.byHandle = state.byHandle.filter { var events = $0.value; return !events.isEmpty(now: now) }
                state.byAddress = state.byAddress.filter { var events = $0.value; return !events.isEmpty(now: now) }
            }
            // "Over" once `limit` failures are in the window.
            let fresh = EventWindow(limit: limit - 1, window: window)
            _ = state.byHandle[handle, default: fresh].record(now: now)
            if let address { _ = state.byAddress[address, default: fresh].record(now: now) }
        }
    }
}
