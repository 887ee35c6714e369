import Logging
import PostgresNIO
import Synchronization

/// A connection of one's own, outside the pool, for one transaction at a
/// time: the write lane's, and the cluster broker's for what it publishes.
/// Owning it means no lease per batch, and a database that went away is
/// noticed at once: a lost connection is dropped, and the next transaction
/// connects again (refused at once, or after the connect limit), so writes
/// are answered `unavailable` during an outage rather than waiting for a
/// pool.
final class PostgresLaneConnection: Sendable {
    private let location: PostgresLocation
    private let logger: Logger
    /// Only the lane's worker uses it, one transaction at a time.
    private let current = Mutex<PostgresConnection?>(nil)

    private let role: String

    init(location: PostgresLocation, role: String, logger: Logger) {
        self.location = location
        self.role = role
        self.logger = logger.errorsOnly
    }

    /// Runs `work` in one transaction (see `PostgresTransaction`), or
    /// throws `PostgresTransactionTimedOut` after `limit` and drops the
    /// connection: a transaction is milliseconds, and one left unanswered
    /// would hold up every write after it.
    func transaction<T: Sendable>(
        logger: Logger, limit: Duration = .seconds(10), _ work: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection: PostgresConnection
        if let open = current.withLock({ $0 }), !open.isClosed {
            connection = open
        } else {
            connection = try await location.connect(logger: self.logger, role: role)
            current.withLock { $0 = connection }
        }
        do {
            return try await PostgresDeadline.run(limit, timedOut: { PostgresTransactionTimedOut(limit: limit) }) {
                try await PostgresTransaction.run(on: connection, logger: logger, work)
            }
        } catch {
            if connection.isClosed || PostgresFailure.isTransient(error) {
                // Whatever state it is in, it is not used again.
                current.withLock { current in
                    if current === connection { current = nil }
                }
                if error is PostgresTransactionTimedOut {
                    logger.error("PostgreSQL did not answer a transaction within \(limit): its connection is dropped")
                    Task { try? await connection.close() }
                } else {
                    try? await connection.close()
                }
            }
            throw error
        }
    }

    func close() async {
        let open = current.withLock { current in
            defer { current = nil }
            return current
        }
        try? await open?.close()
    }
}
