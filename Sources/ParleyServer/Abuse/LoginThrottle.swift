import ParleyCore
import Synchronization

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
