import Dispatch
import GRDB
import ParleyCore
import Synchronization

/// Serialises every write to the SQLite file and commits whatever queued up
/// while the previous commit was in progress as one transaction: group commit,
/// one fsync for many messages, and no timer adding latency when idle.
///
/// SQLite allows one writer at a time anyway; doing all writes here lets the
/// lane keep the hot state of conversations (last seq, members) in memory,
/// exact, without re-reading it for every message.
final class WriteLane: Sendable {
    private struct Queue {
        var pending: [any LaneJob] = []
        var committing = false
        var closed = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var statistics = WriteStatistics()
    }

    private let pool: DatabasePool
    private let queue = Mutex(Queue())
    /// Only ever touched inside `commitQueued`, which GRDB runs on its writer queue.
    private let cache: LaneCache
    private let maxBatch: Int
    /// Takes checkpoints out of the commits; nil leaves them to SQLite.
    private let checkpointer: Checkpointer?
    /// Answers callers and publishes events after each commit, off the writer.
    let reporter: CommitReporter

    init(
        pool: DatabasePool, cache: LaneCache, reporter: CommitReporter, checkpointer: Checkpointer? = nil, maxBatch: Int = 4096
    ) throws {
        self.pool = pool
        self.cache = cache
        self.reporter = reporter
        self.checkpointer = checkpointer
        self.maxBatch = maxBatch
        if let checkpointer { try pool.writeWithoutTransaction { checkpointer.watch($0) } }
    }

    func submit(_ job: some LaneJob) {
        let start: Bool? = queue.withLock { queue in
            guard !queue.closed else { return nil }
            queue.pending.append(job)
            if queue.committing { return false }
            queue.committing = true
            return true
        }
        switch start {
        case nil: job.abandon(ChatError(.unavailable, "the server is shutting down"))
        case true?: pool.asyncWriteWithoutTransaction { db in self.commitQueued(db) }
        case false?: break
        }
    }

    /// Runs a job that returns a value, inside a savepoint so that a refusal
    /// undoes its partial writes without touching the rest of the batch.
    func perform<T: Sendable>(_ body: @escaping @Sendable (Database, LaneCache) throws -> T) async throws -> T {
        try await perform(publishing: { db, cache in (try body(db, cache), nil) })
    }

    /// `perform` for a change sessions hear of: the body also returns the
    /// event and the conversation whose order it keeps. The caller resumes
    /// once the change is durable, then the event is published.
    func perform<T: Sendable>(
        publishing body: @escaping @Sendable (Database, LaneCache) throws -> (T, Publication?)
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(SavepointJob(body: body, continuation: continuation))
        }
    }

    var statistics: WriteStatistics { queue.withLock { $0.statistics } }

    /// Refuses new work and waits for what is queued to commit.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = queue.withLock { queue in
                queue.closed = true
                if queue.committing || !queue.pending.isEmpty {
                    queue.idleWaiters.append(continuation)
                    return false
                }
                return true
            }
            if idle { continuation.resume() }
        }
    }

    /// Commits what is queued, batch after batch, until nothing is.
    private func commitQueued(_ db: Database) {
        while true {
            let batch: [any LaneJob] = queue.withLock { queue in
                guard !queue.pending.isEmpty else {
                    queue.committing = false
                    return []
                }
                queue.statistics.transactions += 1
                queue.statistics.jobs += min(queue.pending.count, maxBatch)
                if queue.pending.count <= maxBatch {
                    defer { queue.pending.removeAll(keepingCapacity: true) }
                    return queue.pending
                }
                defer { queue.pending.removeFirst(maxBatch) }
                return Array(queue.pending.prefix(maxBatch))
            }
            if batch.isEmpty { break }
            commit(batch, db)
        }
        let waiters = queue.withLock { queue in
            // A submit may have restarted committing between the two locks.
            guard !queue.committing else { return [CheckedContinuation<Void, Never>]() }
            defer { queue.idleWaiters = [] }
            return queue.idleWaiters
        }
        waiters.forEach { $0.resume() }
    }

    private func commit(_ batch: [any LaneJob], _ db: Database) {
        var reports: [CommitReport] = []
        reports.reserveCapacity(batch.count)
        do {
            cache.trimIfLarge()
            try db.beginTransaction(.immediate)
            for job in batch {
                reports.append(try job.perform(db, cache))
            }
            try cache.flushDirty(db)
            try db.commit()
        } catch {
            try? db.rollback()
            // The cache may hold changes that just rolled back: forget it all
            // and reload from the database on demand.
            cache.reset()
            for job in batch { job.abandon(error) }
            return
        }
        reporter.committed(reports)
    }
}
