import Synchronization

/// A limit on something PostgreSQL may never answer.
///
/// postgres-nio bounds a TCP connect, not what follows: a server that
/// accepts and never answers, or a query on a connection that died in a way
/// the client did not notice, would keep the caller for ever (and, for the
/// write lane, every write after it, and the server's stop). The operation
/// runs in a task of its own and the caller is answered by whichever comes
/// first, its result or `timedOut()`; a result that comes too late is handed
/// to `late` (to close a connection nobody will use).
enum PostgresDeadline {
    static func run<T: Sendable>(
        _ limit: Duration, timedOut: @escaping @Sendable () -> any Error, late: @escaping @Sendable (T) async -> Void = { _ in },
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = Race<T>()
        return try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let timer = Task {
                try await Task.sleep(for: limit)
                race.finish(.failure(timedOut()))
            }
            Task {
                let result: Result<T, any Error>
                do {
                    result = .success(try await operation())
                } catch {
                    result = .failure(error)
                }
                timer.cancel()
                if !race.finish(result), case .success(let value) = result {
                    await late(value)
                }
            }
        }
    }

    /// Answers the caller once, whoever comes first.
    private final class Race<T: Sendable>: Sendable {
        private let waiting = Mutex<CheckedContinuation<T, any Error>?>(nil)

        func start(_ continuation: CheckedContinuation<T, any Error>) {
            waiting.withLock { $0 = continuation }
        }

        /// Says whether this answered the caller.
        @discardableResult
        func finish(_ result: Result<T, any Error>) -> Bool {
            guard let continuation = waiting.withLock({ $0.take() }) else { return false }
            continuation.resume(with: result)
            return true
        }
    }
}

/// A transaction PostgreSQL did not answer within its limit: the connection
/// is dropped, and the outcome is unknown (a retry with the same
/// `client_id` is stored once).
struct PostgresTransactionTimedOut: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "no answer from PostgreSQL within \(limit)" }
}
