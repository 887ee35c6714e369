import DequeModule
import Synchronization

/// Admission to starting sessions (registering, recording presence, the
/// `ready` snapshot): the work a reconnect storm brings all at once when a
/// node dies and its sessions come back through the load balancer. At most
/// `running` start at once, `waiting` more wait their turn in order, and
/// the rest are turned away at once (closed 1013, told when to come back)
/// instead of piling up on the database's connections.
final class SessionStartGate: Sendable {
    private struct State {
        var running = 0
        var waiting: Deque<CheckedContinuation<Bool, Never>> = []
    }

    let running: Int
    let waiting: Int
    private let state = Mutex(State())

    init(running: Int, waiting: Int) {
        precondition(running > 0 && waiting >= 0)
        self.running = running
        self.waiting = waiting
    }

    /// True once the caller may start (it must call `leave()` after);
    /// false at once if too many wait already.
    func enter() async -> Bool {
        await withCheckedContinuation { continuation in
            let now: Bool? = state.withLock { state in
                if state.running < running {
                    state.running += 1
                    return true
                }
                guard state.waiting.count < waiting else { return false }
                state.waiting.append(continuation)
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    /// Hands the place to the next one waiting, if any.
    func leave() {
        let next = state.withLock { state in
            guard let next = state.waiting.popFirst() else {
                state.running -= 1
                return nil as CheckedContinuation<Bool, Never>?
            }
            return next
        }
        next?.resume(returning: true)
    }

    var load: (running: Int, waiting: Int) { state.withLock { ($0.running, $0.waiting.count) } }

    /// When a client turned away should try again: 1 to 5 s, spread at
    /// random so that those turned away together do not return together.
    static func retryAfterMs() -> Int { Int.random(in: 1_000...5_000) }
}
