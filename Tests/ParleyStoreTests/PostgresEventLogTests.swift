import Logging
import ParleyCore
import PostgresNIO
import Testing

@testable import ParleyStore

/// The cluster event log's upkeep on a real PostgreSQL database.
@Suite("PostgreSQL: the cluster event log", .enabled(if: PostgresTestDatabase.server != nil), .timeLimit(.minutes(2)))
struct PostgresEventLogTests {
    @Test("upkeep makes the partitions of the coming minutes and drops those past the retention, the rows in them with them")
    func maintenance() async throws {
        let database = try await PostgresTestDatabase()
        let logger = Logger(label: "parley-test-log")
        let store = try await PostgresChatStore.open(database.location, broker: LocalBroker())
        try await store.close()
        let db = try await database.location.connect(logger: logger)
        do {
            let minute = PostgresEventLog.partitionMillis
            let old: Millis = 1_000 * minute
            try await PostgresEventLog.maintain(now: old, db, logger: logger)
            let typing = ChatEvent.typing(conversationID: "c", typer: User(id: "u", handle: "u", displayName: "U"), recipients: [])
            try await PostgresTransaction.run(on: db, logger: logger) { db in
                try await PostgresEventLog.append([typing], node: "n", now: old, db)
            }
            #expect(try await partitions(db).contains(PostgresEventLog.partitionName(1_000)))
            #expect(try await partitions(db).contains(PostgresEventLog.partitionName(1_003)))

            let later = old + PostgresEventLog.retention + 2 * minute
            try await PostgresEventLog.maintain(now: later, db, logger: logger)
            let kept = try await partitions(db)
            #expect(!kept.contains(PostgresEventLog.partitionName(1_000)), "\(kept)")
            #expect(kept.contains(PostgresEventLog.partitionName(later / minute)))
            #expect(try await db.row("SELECT count(*) FROM cluster_events")?.decode(Int64.self) == 0)
            try await db.close()
        } catch {
            try? await db.close()
            await database.destroy()
            throw error
        }
        await database.destroy()
    }

    private func partitions(_ db: PostgresConnection) async throws -> Set<String> {
        Set(
            try await db.rows(
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'cluster_events'::regclass"
            ).map { try $0.decode(String.self) })
    }
}
