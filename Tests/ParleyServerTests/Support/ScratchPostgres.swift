import Foundation
import Logging
import ParleyStore
import PostgresNIO

/// An empty PostgreSQL database of its own for one test, on the server
/// `PARLEY_TEST_POSTGRES` names (scripts/test starts a throwaway one),
/// dropped afterwards. Made and dropped on a connection of its own,
/// outside the code under test.
struct ScratchPostgres: Sendable {
    static let server: PostgresLocation? = ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES"].flatMap {
        try? PostgresLocation(url: $0)
    }

    /// Whether this run of the suites is on PostgreSQL.
    static var isChosen: Bool {
        ProcessInfo.processInfo.environment["PARLEY_TEST_STORE"] == "postgres"
    }

    let name: String
    let location: PostgresLocation
    var url: String { location.url }

    init() async throws {
        guard let server = Self.server else {
            throw TestFailure("PARLEY_TEST_POSTGRES must name a PostgreSQL server (scripts/test starts one)")
        }
        name = "parley_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        location = server.with(database: name)
        try await Self.run("CREATE DATABASE \(name)", on: server)
    }

    /// Whether the server is thrown away after the run (scripts/test says
    /// so): its databases are then dropped between passes, not here, where
    /// each DROP DATABASE (a checkpoint each) would load the other tests.
    static var isThrownAway: Bool {
        ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES_THROWAWAY"] == "1"
    }

    /// Drops the database, in the background: called from `deinit`s, which cannot wait.
    func drop() {
        guard let server = Self.server, !Self.isThrownAway else { return }
        let name = self.name
        Task.detached { try? await Self.run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", on: server) }
    }

    /// The first column of the first row of `sql` on this database, as text.
    func value(_ sql: String) async throws -> String? {
        try await Self.run(sql, on: location)
    }

    @discardableResult
    static func run(_ sql: String, on location: PostgresLocation) async throws -> String? {
        try await location.administer(sql, logger: Logger(label: "parley-test-admin"))
    }
}
