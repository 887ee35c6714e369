import Logging
import PostgresNIO
import Synchronization

/// The write lane's own connection, outside the pool. The lane runs one
/// transaction at a time, so one connection is all it needs; owning it
/// means no lease per batch, and a database that went away is noticed at
/// once: a lost connection is dropped, and the next transaction connects
/// again (refused at once, or after the connect timeout), so writes are
/// answered `unavailable` during an outage rather than waiting for a pool.
final class PostgresLaneConnection: Sendable {
    private let location: PostgresLocation
    private let logger: Logger
    /// Only the lane's worker uses it, one transaction at a time.
    private let current = Mutex<PostgresConnection?>(nil)

    init(location: PostgresLocation, logger: Logger) {
        self.location = location
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .error)
        self.logger = quiet
    }

    /// Runs `work` in one transaction (see `PostgresTransaction`).
    func transaction<T: Sendable>(logger: Logger, _ work: (PostgresConnection) async throws -> T) async throws -> T {
        let connection: PostgresConnection
        if let open = current.withLock({ $0 }), !open.isClosed {
            connection = open
        } else {
            connection = try await location.connect(logger: self.logger)
            current.withLock { $0 = connection }
        }
        do {
            return try await PostgresTransaction.run(on: connection, logger: logger, work)
        } catch {
            if connection.isClosed || PostgresFailure.isTransient(error) {
                // Whatever state it is in, it is not used again.
                current.withLock { $0 = nil }
                try? await connection.close()
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
