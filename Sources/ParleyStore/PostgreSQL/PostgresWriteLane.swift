import Logging
import ParleyCore
import PostgresNIO
import Synchronization

/// Every write of this process that sessions hear of, in one line: appends
/// that queued up while the previous transaction was committing are stored
/// together in one transaction (group commit: one COMMIT, one fsync, a few
/// round trips for the whole batch); other changes run one transaction each,
/// in the order they were asked for. Each transaction also writes the
/// events sessions are to hear into the event log, for the other nodes
/// (`PostgresEventLog`). Reports are handed to the
/// `CommitReporter` after each COMMIT, so one conversation's events are
/// published in commit order, as on SQLite.
///
/// Unlike SQLite's lane it is not the only writer: other processes write
/// too. Order within a conversation comes from its row lock, which every
/// append and every change of membership takes before it reads the last seq
/// or the members, and holds until COMMIT.
final class PostgresWriteLane: Sendable {
    private struct Queue {
        var pending: [any PostgresLaneWork] = []
        var waitingWorker: CheckedContinuation<Void, Never>?
        var closed = false
        var busy = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var statistics = WriteStatistics()
    }

    private let connection: PostgresLaneConnection
    private let queue = Mutex(Queue())
    /// Only ever touched by the worker task.
    private let cache: PostgresLaneCache
    private let log: PostgresEventLogWriter
    private let maxBatch: Int
    let reporter: CommitReporter
    private let logger: Logger
    private let worker = Mutex<Task<Void, Never>?>(nil)

    init(
        connection: PostgresLaneConnection, cache: PostgresLaneCache, log: PostgresEventLogWriter, reporter: CommitReporter,
        logger: Logger, maxBatch: Int = 2048
    ) {
        self.connection = connection
        self.cache = cache
        self.log = log
        self.reporter = reporter
        self.logger = logger
        self.maxBatch = maxBatch
        worker.withLock { $0 = Task { await self.work() } }
    }

    func submit(_ job: some PostgresLaneWork) {
        let outcome: (accepted: Bool, wake: CheckedContinuation<Void, Never>?) = queue.withLock { queue in
            guard !queue.closed else { return (false, nil) }
            queue.pending.append(job)
            defer { queue.waitingWorker = nil }
            return (true, queue.waitingWorker)
        }
        guard outcome.accepted else {
            job.abandon(ChatError(.unavailable, "the server is shutting down"))
            return
        }
        outcome.wake?.resume()
    }

    /// Runs `body` in a transaction of its own, in the lane's order. The
    /// caller resumes once it has committed, then the event is published.
    func perform<T: Sendable>(
        publishing body: @escaping @Sendable (PostgresConnection, PostgresLaneCache) async throws -> (T, Publication?)
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(PostgresTransactionJob(body: body, continuation: continuation))
        }
    }

    func perform<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, PostgresLaneCache) async throws -> T) async throws -> T {
        try await perform(publishing: { db, cache in (try await body(db, cache), nil) })
    }

    var statistics: WriteStatistics { queue.withLock { $0.statistics } }

    /// Refuses new work and waits for what is queued to commit.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (idle, wake): (Bool, CheckedContinuation<Void, Never>?) = queue.withLock { queue in
                queue.closed = true
                defer { queue.waitingWorker = nil }
                if queue.busy || !queue.pending.isEmpty {
                    queue.idleWaiters.append(continuation)
                    return (false, queue.waitingWorker)
                }
                return (true, queue.waitingWorker)
            }
            wake?.resume()
            if idle { continuation.resume() }
        }
        await worker.withLock { $0 }?.value
        await connection.close()
    }

    /// The worker: takes what is queued, commits it, and again, until closed.
    private func work() async {
        while let jobs = await nextJobs() {
            var index = 0
            while index < jobs.count {
                if jobs[index] is PostgresAppendJob {
                    var appends: [PostgresAppendJob] = []
                    while index < jobs.count, appends.count < maxBatch, let append = jobs[index] as? PostgresAppendJob {
                        appends.append(append)
                        index += 1
                    }
                    await commit(appends)
                } else {
                    if let job = jobs[index] as? any PostgresLaneJob { await run(job) }
                    index += 1
                }
            }
        }
    }

    /// Waits for work; nil once the lane is closed and drained.
    private func nextJobs() async -> [any PostgresLaneWork]? {
        while true {
            enum Next {
                case jobs([any PostgresLaneWork])
                case wait
                case done([CheckedContinuation<Void, Never>])
            }
            let next: Next = queue.withLock { queue in
                if !queue.pending.isEmpty {
                    queue.busy = true
                    defer { queue.pending.removeAll(keepingCapacity: true) }
                    return .jobs(queue.pending)
                }
                queue.busy = false
                if queue.closed {
                    defer { queue.idleWaiters = [] }
                    return .done(queue.idleWaiters)
                }
                return .wait
            }
            switch next {
            case .jobs(let jobs): return jobs
            case .done(let waiters):
                waiters.forEach { $0.resume() }
                return nil
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = queue.withLock { queue in
                        if !queue.pending.isEmpty || queue.closed { return true }
                        queue.waitingWorker = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            }
        }
    }

    private func commit(_ appends: [PostgresAppendJob]) async {
        queue.withLock {
            $0.statistics.transactions += 1
            $0.statistics.jobs += appends.count
        }
        do {
            let reports = try await PostgresAppendBatch(jobs: appends, cache: cache).commit(connection, log: log, logger: logger)
            reporter.committed(reports)
        } catch {
            cache.reset()
            let failure = PostgresFailure.map(error)
            if PostgresFailure.isTransient(error) { log.commitsUncertain() }
            logger.warning("a batch of \(appends.count) messages was not stored: \(PostgresFailure.logged(error))")
            for job in appends { job.abandon(failure) }
        }
    }

    private func run(_ job: any PostgresLaneJob) async {
        queue.withLock {
            $0.statistics.transactions += 1
            $0.statistics.jobs += 1
        }
        do {
            let cache = self.cache, log = self.log
            let report = try await connection.transaction(logger: logger) { db in
                let report = try await job.perform(db, cache)
                try await log.write([report], db)
                return report
            }
            reporter.committed([report])
        } catch let refusal as ChatError {
            // Jobs refuse before they change the cache (a version they
            // moved only makes the next writer read the state again).
            job.abandon(refusal)
        } catch {
            cache.reset()
            if PostgresFailure.isTransient(error) { log.commitsUncertain() }
            logger.warning("a change was not stored: \(PostgresFailure.logged(error))")
            job.abandon(PostgresFailure.map(error))
        }
    }
}

/// Something queued on the PostgreSQL lane: an append (batched) or a job.
protocol PostgresLaneWork: Sendable {
    /// It did not commit: answer the caller with `error`.
    func abandon(_ error: any Error)
}

/// A change that runs in a transaction of its own.
protocol PostgresLaneJob: PostgresLaneWork {
    /// Runs inside its own transaction. A refusal is thrown as a
    /// `ChatError` (and rolls the transaction back).
    func perform(_ db: PostgresConnection, _ cache: PostgresLaneCache) async throws -> CommitReport
}

struct PostgresTransactionJob<T: Sendable>: PostgresLaneJob {
    let body: @Sendable (PostgresConnection, PostgresLaneCache) async throws -> (T, Publication?)
    let continuation: CheckedContinuation<T, any Error>

    func perform(_ db: PostgresConnection, _ cache: PostgresLaneCache) async throws -> CommitReport {
        let (value, publication) = try await body(db, cache)
        let continuation = self.continuation
        return CommitReport(conversation: publication?.conversation, event: publication?.event) {
            continuation.resume(returning: value)
        }
    }

    func abandon(_ error: any Error) {
        continuation.resume(throwing: error)
    }
}
