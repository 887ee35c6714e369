import Foundation
import ParleyCore
import ParleyStore

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

    init() throws {
        guard let server = Self.server else { throw TestDatabaseUnavailable() }
        name = "parley_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        location = server.with(database: name)
        try Self.admin("CREATE DATABASE \(name)")
    }

    func open(now: @escaping @Sendable () -> Millis, broker: any EventBroker, limits: ChatLimits) async throws -> any ChatStore {
        try await PostgresChatStore.open(location, limits: limits, now: now, broker: broker, maximumConnections: 8)
    }

    func destroy() async {
        try? Self.admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs one statement on the server's own database with `psql`: kept
    /// outside the store under test.
    static func admin(_ sql: String) throws {
        guard let server else { throw TestDatabaseUnavailable() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-q", "-v", "ON_ERROR_STOP=1", server.url, "-c", sql]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw AdminFailed(sql: sql) }
    }

    struct TestDatabaseUnavailable: Error {}
    struct AdminFailed: Error {
        let sql: String
    }
}
