import DequeModule
import ParleyCore
import Synchronization

/// Admission to password hashing. bcrypt is the most expensive thing a
/// client can ask for without an account, so at most `workers` hashes run
/// at once, a bounded number wait, and the rest are refused at once (503
/// with `retry_after_ms`) instead of queueing without end. Sign-ups never
/// hold every worker (one is kept for logins when there are two or more),
/// and waiting logins go first: a flood of sign-ups costs a real user's
/// login about one hash, not the flood.
final class HashingQueue: Sendable {
    enum Work: Sendable {
        case logIn
        case signUp
    }

    private enum Admission: Sendable {
        case admitted
        case refused
    }

    private struct State {
        var running = 0
        var runningSignUps = 0
        var logIns: Deque<CheckedContinuation<Admission, Never>> = []
        var signUps: Deque<CheckedContinuation<Admission, Never>> = []
    }

    let workers: Int
    /// Workers sign-ups may hold at once.
    let signUpWorkers: Int
    let maxWaitingLogIns: Int
    let maxWaitingSignUps: Int
    /// What a refusal asks the client to wait: about one round of hashes.
    let retryAfter: Duration
    private let state = Mutex(State())

    init(workers: Int, maxWaitingLogIns: Int, maxWaitingSignUps: Int, retryAfter: Duration = .seconds(1)) {
        precondition(workers > 0)
        self.workers = workers
        self.signUpWorkers = max(1, workers - 1)
        self.maxWaitingLogIns = maxWaitingLogIns
        self.maxWaitingSignUps = maxWaitingSignUps
        self.retryAfter = retryAfter
    }

    /// Hashes running, and waiting by kind.
    var load: (running: Int, logIns: Int, signUps: Int) {
        state.withLock { ($0.running, $0.logIns.count, $0.signUps.count) }
    }

    /// Runs `body` once a worker is free for it; throws `unavailable` at
    /// once if too many of `work` are waiting already.
    func run<T: Sendable>(_ work: Work, _ body: () async throws -> T) async throws -> T {
        try await admit(work)
        defer { finished(work) }
        return try await body()
    }

    private func admit(_ work: Work) async throws {
        // The continuation is resumed at once (a free worker, or a refusal)
        // or when a finishing hash passes its worker on.
        let admission = await withCheckedContinuation { (continuation: CheckedContinuation<Admission, Never>) in
            let now: Admission? = state.withLock { state in
                switch work {
                case .logIn:
                    if state.running < workers {
                        state.running += 1
                        return .admitted
                    }
                    guard state.logIns.count < maxWaitingLogIns else { return .refused }
                    state.logIns.append(continuation)
                case .signUp:
                    if state.running < workers, state.runningSignUps < signUpWorkers {
                        state.running += 1
                        state.runningSignUps += 1
                        return .admitted
                    }
                    guard state.signUps.count < maxWaitingSignUps else { return .refused }
                    state.signUps.append(continuation)
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
    /// to the next sign-up if sign-ups may take one more.
    private func finished(_ work: Work) {
        let next: CheckedContinuation<Admission, Never>? = state.withLock { state in
            state.running -= 1
            if work == .signUp { state.runningSignUps -= 1 }
            if let login = state.logIns.popFirst() {
                state.running += 1
                return login
            }
            if state.runningSignUps < signUpWorkers, let signUp = state.signUps.popFirst() {
                state.running += 1
                state.runningSignUps += 1
                return signUp
            }
            return nil
        }
        next?.resume(returning: .admitted)
    }
}
