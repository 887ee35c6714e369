import ParleyCore
import PostgresNIO

/// What a caller is told when PostgreSQL failed a write: a lost or
/// refused connection, a restart, a deadlock or a serialization failure
/// is `unavailable` (try again: a retry with the same `client_id` is
/// stored once); anything else is passed on as it is (an internal error).
enum PostgresFailure {
    static let unavailable = ChatError(.unavailable, "the database is unavailable; try again", retryAfterMs: 1000)

    static func map(_ error: any Error) -> any Error {
        if error is ChatError { return error }
        return isTransient(error) ? unavailable : error
    }

    static func isTransient(_ error: any Error) -> Bool {
        if error is PostgresConnectTimedOut || error is PostgresTransactionTimedOut { return true }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .server:
            guard let state = error.serverInfo?[.sqlState] else { return false }
            // 08: connection exceptions; 57P0x: the server shutting down or
            // starting; 40001 / 40P01: serialization failure, deadlock;
            // 53: insufficient resources (too many connections).
            return state.hasPrefix("08") || state.hasPrefix("57P") || state == "40001" || state == "40P01" || state.hasPrefix("53")
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed, .queryCancelled:
            return true
        default:
            return false
        }
    }

    /// Why PostgreSQL failed, in words: the server's own message, or the
    /// network's.
    /// What the log says about a failed write: the reason alone when the
    /// database was briefly away (the caller is told to retry), everything
    /// PostgresNIO knows otherwise.
    static func logged(_ error: any Error) -> String {
        isTransient(error) ? "\(reason(error)) (answered unavailable)" : String(reflecting: error)
    }

    static func reason(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return String(describing: error) }
        if error.code == .server, let message = error.serverInfo?[.message] {
            return message
        }
        if let underlying = error.underlying { return String(describing: underlying) }
        return String(describing: error.code)
    }
}
