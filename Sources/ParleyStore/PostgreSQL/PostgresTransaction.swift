import Logging
import PostgresNIO

/// Runs work in one transaction on a connection of the pool: BEGIN, the
/// work, COMMIT; ROLLBACK if the work throws, and the work's own error
/// rethrown (not wrapped), so that a refusal (`ChatError`) reaches the
/// caller as it is. A failed COMMIT throws: the caller must not report
/// success, since the outcome is unknown.
///
/// Statements inside must not have their errors caught and ignored: after
/// a failed statement PostgreSQL aborts the transaction, and COMMIT would
/// quietly roll it back.
enum PostgresTransaction {
    static func run<T: Sendable>(
        _ pool: PostgresPool, logger: Logger, _ work: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await pool.withConnection { connection in
            try await run(on: connection, logger: logger, work)
        }
    }

    /// The same on a connection of one's own (the first one, at start).
    nonisolated(nonsending) static func run<T: Sendable>(
        on connection: PostgresConnection, logger: Logger, _ work: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await connection.query("BEGIN", logger: logger)
        let value: T
        do {
            value = try await work(connection)
        } catch {
            // A connection that failed is left alone: PostgreSQL rolls back
            // what a lost session began, and a query sent into a closing
            // connection may never be answered.
            if !PostgresFailure.isTransient(error), !connection.isClosed {
                _ = try? await connection.query("ROLLBACK", logger: logger)
            }
            throw error
        }
        try await connection.query("COMMIT", logger: logger)
        return value
    }
}

extension PostgresConnection {
    /// Every row of a query.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await self.query(query, logger: PostgresLog.queries).collect()
    }

    /// The first row of a query, if any.
    func row(_ query: PostgresQuery) async throws -> PostgresRow? {
        try await rows(query).first
    }

    /// Runs a statement whose rows, if any, are not wanted.
    func run(_ query: PostgresQuery) async throws {
        _ = try await self.query(query, logger: PostgresLog.queries).collect()
    }

    /// Whether a query returns any row.
    func exists(_ query: PostgresQuery) async throws -> Bool {
        try await row(query) != nil
    }
}

enum PostgresLog {
    /// postgres-nio logs each query at debug level: kept quiet unless the
    /// server's own log level asks for it.
    static let queries = Logger(label: "parley.postgres")
}

extension Logger {
    /// This logger, errors only: for postgres-nio's own account of a failed
    /// connect or query, which the caller reports already in its own words.
    var errorsOnly: Logger {
        var quiet = self
        quiet.logLevel = max(logLevel, .error)
        return quiet
    }
}
