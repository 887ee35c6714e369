import Logging
import ParleyCore

/// What `--database` names: a SQLite file (the default), or a PostgreSQL
/// database by its `postgres://` URL.
public enum DatabaseLocation: Sendable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    public init(_ value: String) throws {
        if PostgresLocation.isURL(value) {
            self = .postgres(try PostgresLocation(url: value))
        } else {
            self = .sqlite(path: value)
        }
    }

    /// Opens the store, bringing its schema up to date.
    public func open(limits: ChatLimits, logger: Logger) async throws -> any ChatStore {
        switch self {
        case .sqlite(let path):
            return try SQLiteChatStore(path: path, limits: limits)
        case .postgres(let location):
            return try await PostgresChatStore.open(location, limits: limits, logger: logger)
        }
    }

    /// Safe to print: a PostgreSQL password is left out.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let location): location.description
        }
    }
}
