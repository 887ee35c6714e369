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
