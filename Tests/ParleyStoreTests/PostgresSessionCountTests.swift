import Logging
import ParleyCore
import PostgresNIO
import Testing

@testable import ParleyStore

/// The limit of sessions per user across the nodes sharing a database:
/// each node's count is recorded under the user's lock, and a node gets
/// only the places the others left.
@Suite("PostgreSQL: sessions counted across nodes", .enabled(if: PostgresTestDatabase.server != nil), .timeLimit(.minutes(2)))
struct PostgresSessionCountTests {
    @Test("two nodes share one user's places: each gets what the other left, a close frees a place, and sessions let in are never taken back")
    func placesShared() async throws {
        let database = try await PostgresTestDatabase()
        let logger = Logger(label: "parley-test-sessions")
        let first = try await PostgresChatStore.open(database.location, broker: LocalBroker())
        // The first node beats as its server would, so the second may join.
        let beating = Task {
            while !Task.isCancelled {
                _ = try? await first.heartbeat()
                try? await Task.sleep(for: .milliseconds(PresenceRule.heartbeat))
            }
        }
        let second = try await PostgresChatStore.open(database.location, broker: LocalBroker())
        let db = try await database.location.connect(logger: logger)
        func rows() async throws -> [Int64] {
            try await db.rows("SELECT sessions::int8 FROM cluster_presence ORDER BY sessions").map { try $0.decode(Int64.self) }
        }
        do {
            #expect(first.countsSessionsAcrossNodes && second.countsSessionsAcrossNodes)
            let ann = try await first.makeAccount("ann")
            #expect(try await first.recordSessions(ann, count: 2, admitted: 0, limit: 3, at: 1) == 2)
            #expect(try await second.recordSessions(ann, count: 2, admitted: 0, limit: 3, at: 2) == 1, "one place left")
            #expect(try await second.recordSessions(ann, count: 2, admitted: 1, limit: 3, at: 3) == 1, "still one")
            #expect(try await rows() == [1, 2])
            #expect(try await first.recordSessions(ann, count: 1, admitted: 1, limit: 3, at: 4) == 1, "one closed on the first")
            #expect(try await second.recordSessions(ann, count: 2, admitted: 1, limit: 3, at: 5) == 2, "its place is free")
            // A node recording again what it let in (after it was given up)
            // keeps it, even past the limit.
            #expect(try await first.recordSessions(ann, count: 2, admitted: 2, limit: 3, at: 6) == 2)
            #expect(try await rows() == [2, 2])
            #expect(try await first.recordSessions(ann, count: 0, admitted: 0, limit: 3, at: 7) == 0)
            #expect(try await second.recordSessions(ann, count: 0, admitted: 0, limit: 3, at: 8) == 0)
            #expect(try await rows().isEmpty, "no row once a node has no session of the user")
        } catch {
            Issue.record(error)
        }
        beating.cancel()
        await beating.value
        try? await db.close()
        try? await second.close()
        try? await first.close()
        await database.destroy()
    }
}
