import Foundation
import Logging
import PostgresNIO

/// Where a PostgreSQL database is, from a `postgres://user:password@host:port/dbname`
/// URL (also `postgresql://`). `?sslmode=disable|prefer|require` chooses
/// TLS (default: prefer, which falls back to plain if the server has none).
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let username: String
    public let password: String?
    public let database: String
    public let tls: TLSMode

    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    /// Whether `value` names a PostgreSQL database rather than a SQLite file.
    public static func isURL(_ value: String) -> Bool {
        value.hasPrefix("postgres://") || value.hasPrefix("postgresql://")
    }

    public struct InvalidURL: Error, CustomStringConvertible {
        public let description: String
    }

    public init(url: String) throws {
        guard Self.isURL(url), let components = URLComponents(string: url) else {
            throw InvalidURL(description: "not a postgres:// URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw InvalidURL(description: "the PostgreSQL URL names no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw InvalidURL(description: "the PostgreSQL URL names no user")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw InvalidURL(description: "the PostgreSQL URL names no database") }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw InvalidURL(description: "sslmode must be disable, prefer or require")
                }
                tls = mode
            default:
                throw InvalidURL(description: "unknown PostgreSQL URL option '\(item.name)'")
            }
        }
        self.init(
            host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database.removingPercentEncoding ?? database, tls: tls)
    }

    public init(host: String, port: Int, username: String, password: String?, database: String, tls: TLSMode) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// The same server, another database.
    public func with(database: String) -> PostgresLocation {
        PostgresLocation(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// The whole URL, password included: for tools such as `psql`, never for logs.
    public var url: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = username
        components.password = password
        components.host = host
        components.port = port
        components.path = "/" + database
        if tls != .prefer { components.queryItems = [URLQueryItem(name: "sslmode", value: tls.rawValue)] }
        return components.string ?? description
    }

    /// The URL without its password: safe to log and print.
    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)"
    }

    /// One connection of its own (the pool's, the write lane's, at start,
    /// for tools), or `PostgresConnectTimedOut` after `limit`.
    ///
    /// The limit covers the whole of connecting, TLS and sign-in included:
    /// postgres-nio's connect timeout covers the TCP connect only, and a
    /// server that accepts and then never answers (one in the middle of
    /// restarting) would otherwise keep the caller, and the pool place it
    /// holds, for ever. An attempt given up on is closed when it completes.
    /// `role` names the connection in `pg_stat_activity` (`application_name`
    /// `parley-<role>`), for whoever looks after the database.
    public func connect(logger: Logger, within limit: Duration = .seconds(10), role: String = "tool") async throws -> PostgresConnection {
        try await PostgresDeadline.run(
            limit, timedOut: { PostgresConnectTimedOut(location: self, limit: limit) }, late: { try? await $0.close() }
        ) {
            try await connectUnbounded(logger: logger, role: role)
        }
    }

    private func connectUnbounded(logger: Logger, role: String) async throws -> PostgresConnection {
        let tlsConfiguration: PostgresConnection.Configuration.TLS =
            switch tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tlsConfiguration)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "parley-\(role)")]
        return try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
    }

    /// Runs one statement on a connection of its own, for administration
    /// (creating and dropping databases in tools and tests); answers the
    /// first column of its first row, as text, if it has one.
    @discardableResult
    public func administer(_ sql: String, logger: Logger) async throws -> String? {
        let connection = try await connect(logger: logger)
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
            try await connection.close()
            return try rows.first.map { try $0.decode(String?.self) } ?? nil
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// Connecting to PostgreSQL took longer than its limit.
public struct PostgresConnectTimedOut: Error, CustomStringConvertible {
    public let location: PostgresLocation
    public let limit: Duration
    public var description: String { "no answer from PostgreSQL at \(location) within \(limit)" }
}
