import Foundation
import Logging
import ParleyCore
import PostgresNIO
import Testing

@testable import ParleyStore

/// The store's own connection pool on a real PostgreSQL: every lease is
/// answered, whatever the database does.
@Suite("PostgreSQL: the connection pool", .enabled(if: PostgresTestDatabase.server != nil), .timeLimit(.minutes(2)))
struct PostgresPoolTests {
    private let logger = Logger(label: "parley-test-pool")

    private static func backend(_ connection: PostgresConnection) async throws -> Int32 {
        try #require(try await connection.row("SELECT pg_backend_pid()")?.decode(Int32.self))
    }

    @Test("forty leases at once on a pool of three: each gets a connection in turn, and no more than three are ever open")
    func moreLeasesThanConnections() async throws {
        // A long lease timeout: the whole test suite shares the machine,
        // and this test is about order and limits, not time.
        let pool = PostgresPool(
            location: try #require(PostgresTestDatabase.server), maximumConnections: 3, leaseTimeout: .seconds(120), logger: logger)
        // What each lease saw: its backend, and how many connections were open.
        let seen = try await withThrowingTaskGroup(of: (Int32, Int).self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await pool.withConnection { connection in
                        let pid = try await Self.backend(connection)
                        let open = pool.openConnections
                        try await connection.run("SELECT pg_sleep(0.01)")
                        return (pid, open)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(seen.count == 40)
        #expect(seen.map(\.1).max()! <= 3)
        #expect(Set(seen.map(\.0)).count <= 3, "connections were reused")
        await pool.close()
        #expect(pool.openConnections == 0)
    }

    @Test("a lease that waits longer than its timeout for a busy pool is answered unavailable; the pool serves the next one")
    func leaseTimeout() async throws {
        let pool = PostgresPool(
            location: try #require(PostgresTestDatabase.server), maximumConnections: 1, leaseTimeout: .milliseconds(300), logger: logger)
        let holder = Task { try await pool.withConnection { try await $0.run("SELECT pg_sleep(1.5)") } }
        try await Task.sleep(for: .milliseconds(200))
        // Had it waited on, it would have had the connection after 1.3 s.
        await #expect(throws: ChatError.self) { try await pool.withConnection { _ in } }
        try await holder.value
        try await pool.withConnection { try await $0.run("SELECT 1") }
        await pool.close()
    }

    @Test("a connection the database closed (pg_terminate_backend) is never given out again: the next lease gets a new one")
    func terminatedConnection() async throws {
        let server = try #require(PostgresTestDatabase.server)
        let pool = PostgresPool(location: server, maximumConnections: 2, logger: logger)
        let first = try await pool.withConnection { try await Self.backend($0) }
        try await server.administer("SELECT pg_terminate_backend(\(first))::text", logger: logger)
        // The pool learns of it when the socket closes, or at the latest
        // when a query on it fails with a connection error.
        var next: Int32?
        for _ in 0..<2 where next == nil {
            do {
                next = try await pool.withConnection { try await Self.backend($0) }
            } catch {
                // The connection's own error: the store answers it unavailable.
                #expect(PostgresFailure.isTransient(error), "\(String(reflecting: error))")
            }
        }
        let second = try #require(next)
        #expect(second != first)
        #expect(pool.openConnections == 1)
        await pool.close()
    }

    @Test("a database that cannot be reached: every lease is answered unavailable at once, and none holds a place afterwards")
    func unreachable() async throws {
        let nowhere = try PostgresLocation(url: "postgres://postgres@127.0.0.1:\(try closedPort())/postgres")
        let pool = PostgresPool(location: nowhere, maximumConnections: 2, logger: logger)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    do {
                        try await pool.withConnection { _ in }
                        Issue.record("a lease on an unreachable database succeeded")
                    } catch {
                        #expect(PostgresFailure.map(error) is ChatError, "\(error)")
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(ContinuousClock.now - started < .seconds(20), "not a connect timeout each")
        #expect(pool.openConnections == 0)
        await pool.close()
    }

    @Test("a server that accepts connections and never answers (PostgreSQL half-way through a restart): each lease is answered unavailable at the connect limit, and no place stays taken")
    func silentServer() async throws {
        let (fd, port) = try silentListener()
        defer { close(fd) }
        let silent = try PostgresLocation(url: "postgres://postgres@127.0.0.1:\(port)/postgres")
        let pool = PostgresPool(location: silent, maximumConnections: 2, connectTimeout: .milliseconds(500), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    do {
                        try await pool.withConnection { _ in }
                        Issue.record("a lease on a silent server succeeded")
                    } catch {
                        #expect(PostgresFailure.map(error) is ChatError, "\(error)")
                        #expect(error is PostgresConnectTimedOut, "\(error)")
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(pool.openConnections == 0)
        await pool.close()
    }

    @Test("closing the pool answers the waiting leases unavailable and refuses new ones")
    func closeAnswersWaiters() async throws {
        let pool = PostgresPool(location: try #require(PostgresTestDatabase.server), maximumConnections: 1, logger: logger)
        let holder = Task { try await pool.withConnection { try await $0.run("SELECT pg_sleep(0.5)") } }
        try await Task.sleep(for: .milliseconds(200))
        let waiter = Task { try await pool.withConnection { _ in } }
        try await Task.sleep(for: .milliseconds(100))
        await pool.close()
        await #expect(throws: ChatError.self) { try await waiter.value }
        await #expect(throws: ChatError.self) { try await pool.withConnection { _ in } }
        try await holder.value
        #expect(pool.openConnections == 0, "the leased connection was closed when it came back")
    }

    /// A loopback port nothing listens on.
    private func closedPort() throws -> Int {
        let (fd, port) = try boundSocket()
        close(fd)
        return port
    }

    /// A loopback socket that listens and never accepts: the kernel
    /// completes each TCP connect, and nothing is ever answered.
    private func silentListener() throws -> (Int32, Int) {
        let (fd, port) = try boundSocket()
        guard listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        return (fd, port)
    }

    private func boundSocket() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                guard bind(fd, $0, length) == 0, getsockname(fd, $0, &length) == 0 else {
                    close(fd)
                    throw POSIXError(.EADDRINUSE)
                }
            }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
