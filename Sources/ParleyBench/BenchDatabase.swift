// The database of a spawned server: a SQLite file in the run's directory, or,
// with --spawn-postgres, a fresh database made on that PostgreSQL server for
// the run and dropped after it, so that every run starts empty.

import Foundation
import Logging
import ParleyStore

public enum BenchDatabase: Sendable {
    case sqlite(path: String)
    case postgres(server: PostgresLocation, name: String)

    /// What `parley serve --database` is given.
    var argument: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let server, let name): server.with(database: name).url
        }
    }

    static func make(postgres: String?, directory: URL, port: Int) async throws -> BenchDatabase {
        guard let postgres else { return .sqlite(path: directory.appendingPathComponent("bench.sqlite").path) }
        let server = try PostgresLocation(url: postgres)
        guard Loopback.isLoopback(server.host) else {
            throw SpawnError(message: "--spawn-postgres must name a loopback server, not \(server.host)")
        }
        let name = "parley_bench_\(getpid())_\(port)"
        try await run("CREATE DATABASE \(name)", on: server)
        return .postgres(server: server, name: name)
    }

    /// Drops a PostgreSQL database made for the run (after the server stopped).
    func remove() async {
        guard case .postgres(let server, let name) = self else { return }
        try? await Self.run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", on: server)
    }

    private static func run(_ sql: String, on server: PostgresLocation) async throws {
        try await server.administer(sql, logger: Logger(label: "parley-bench"))
    }
}
