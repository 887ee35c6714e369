import DequeModule
import ParleyCore
import Synchronization

/// Admission to password hashing. bcrypt is the most expensive thing a
/// client can ask for without an account, so at most `workers` hashes run
/// at once, a bounded number wait, and the rest are refused at once (503
/// with `retry_after_ms`) instead of queueing without end. Logins wait in
/// their own queue and go first: a flood of sign-ups delays a real user's
/// login by the hashes already running, not by the whole flood.
final class HashingQueue: Sendable {
    enum Work: Sendable {
        case logIn
        case signUp
    }

    private struct State {
        var running = 0
        var logIns: Deque<CheckedContinuation<Admission, Never>> = []
        var signUps: Deque<CheckedContinuation<Admission, Never>> = []
    }

    let workers: Int
    let maxWaitingLogIns: Int
    let maxWaitingSignUps: Int
    /// What a refusal asks the client to wait: about one round of hashes.
    let retryAfter: Duration
    private let state = Mutex(State())

    init(workers: Int, maxWaitingLogIns: Int, maxWaitingSignUps: Int, retryAfter: Duration = .seconds(1)) {
        precondition(workers > 0)
        self.workers = workers
        self.maxWaitingLogIns = maxWaitingLogIns
        self.maxWaitingSignUps = maxWaitingSignUps
        self.retryAfter = retryAfter
    }

    /// Hashes running, and waiting by kind.
    var load: (running: Int, logIns: Int, signUps: Int) {
        state.withLock { ($0.running, $0.logIns.count, $0.signUps.count) }
    }

    /// Runs `body` once a worker is free; throws `unavailable` at once if
    /// too many of `work` are waiting already.
    func run<T: Sendable>(_ work: Work, _ body: () async throws -> T) async throws -> T {
        try await admit(work)
        defer { finished() }
        return try await body()
    }

    private enum Admission: Sendable {
        case admitted
        case refused
    }

    private func admit(_ work: Work) async throws {
        // The continuation is resumed at once (a free worker, or a refusal)
        // or when a worker passes to it.
        let admission = await withCheckedContinuation { (continuation: CheckedContinuation<Admission, Never>) in
            let now: Admission? = state.withLock { state in
                if state.running < workers {
                    state.running += 1
                    return .admitted
                }
                switch work {
                case .logIn where state.logIns.count < maxWaitingLogIns: state.logIns.append(continuation)
                case .signUp where state.signUps.count < maxWaitingSignUps: state.signUps.append(continuation)
                default: return .refused
                }
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
        guard admission == .admitted else {
            throw ChatError(
                .unavailable, "the server is busy checking passwords: retry in a moment",
                retryAfterMs: retryAfter.wholeMilliseconds)
        }
    }

    /// A hash finished: its worker passes to the next waiting login, else
    /// the next sign-up.
    private func finished() {
        let next: CheckedContinuation<Admission, Never>? = state.withLock { state in
            if let next = state.logIns.popFirst() ?? state.signUps.popFirst() { return next }
            state.running -= 1
            return nil
        }
        next?.resume(returning: .admitted)
    }
}
