import Foundation
import Logging
import ParleyCore
import ParleyStore
import PostgresNIO

/// PostgreSQL: a database of its own on the server named by
/// `PARLEY_TEST_POSTGRES` (a URL whose user may create databases), created
/// empty for one test and dropped afterwards.
struct PostgresTestDatabase: TestDatabase {
    /// The server to create test databases on, if the environment names one.
    static let server: PostgresLocation? = ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES"].flatMap {
        try? PostgresLocation(url: $0)
    }

    let name: String
    let location: PostgresLocation

    init() async throws {
        guard let server = Self.server else { throw TestDatabaseUnavailable() }
        name = "parley_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        location = server.with(database: name)
        try await Self.admin("CREATE DATABASE \(name)")
    }

    func open(now: @escaping @Sendable () -> Millis, broker: any EventBroker, limits: ChatLimits) async throws -> any ChatStore {
        try await PostgresChatStore.open(location, limits: limits, now: now, broker: broker, maximumConnections: 8)
    }

    /// Not when the server is thrown away after the run (scripts/test says
    /// so): it drops the databases between passes, where each DROP
    /// DATABASE's checkpoint does not load the other tests.
    func destroy() async {
        guard ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES_THROWAWAY"] != "1" else { return }
        try? await Self.admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs one statement on the server's own database, on a connection
    /// of its own: outside the store under test.
    static func admin(_ sql: String) async throws {
        guard let server else { throw TestDatabaseUnavailable() }
        try await server.administer(sql, logger: Logger(label: "parley-test-admin"))
    }

    struct TestDatabaseUnavailable: Error {}
}
