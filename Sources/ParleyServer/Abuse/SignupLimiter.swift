import ParleyCore
import Synchronization

/// Accounts created per client address (`--signup-rate` per hour): every
/// free account brings its own send rate, and each sign-up costs a bcrypt
/// run. Checked before the hash, counted once the account exists; sign-ups
/// already hashing when the limit is reached may pass it by the few the
/// hashing queue lets run at once.
final class SignupLimiter: Sendable {
    private static let sweepThreshold = 10_000

    /// Accounts per address per `window`; 0 turns the limit off.
    let limit: Int
    let window: Duration
    private let byAddress = Mutex<[String: EventWindow]>([:])

    init(limit: Int, window: Duration = .seconds(3600)) {
        self.limit = limit
        self.window = window
    }

    /// Throws `rate_limited` if the address has created its accounts for now.
    func check(address: String?, now: ContinuousClock.Instant = .now) throws(ChatError) {
        guard limit > 0, let address else { return }
        let wait = byAddress.withLock { windows -> Duration in
            guard var events = windows[address] else { return .zero }
            // "Over" once `limit` accounts are in the window.
            return events.isOver(now: now) ? events.retryAfter(now: now) : .zero
        }
        if wait > .zero {
            throw ChatError.rateLimited("too many accounts created from this address: wait before signing up again", retryAfter: wait)
        }
    }

    func recordAccount(address: String?, now: ContinuousClock.Instant = .now) {
        guard limit > 0, let address else { return }
        byAddress.withLock { windows in
            if windows.count > Self.sweepThreshold {
                windows = windows.filter { var events = $0.value; return !events.isEmpty(now: now) }
            }
            _ = windows[address, default: EventWindow(limit: limit - 1, window: window)].record(now: now)
        }
    }
}
