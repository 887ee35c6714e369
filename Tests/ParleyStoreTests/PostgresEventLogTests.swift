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

    @Test("a node alone writes nothing to the log on its commits; a node joining waits until the first has beaten since, and from then on the first writes for it")
    func writtenOnlyForAnAudience() async throws {
        let database = try await PostgresTestDatabase()
        let logger = Logger(label: "parley-test-log")
        let first = try await PostgresChatStore.open(database.location, broker: LocalBroker())
        let db = try await database.location.connect(logger: logger)
        func logged() async throws -> Int64 { try await db.row("SELECT count(*) FROM cluster_events")?.decode(Int64.self) ?? -1 }
        do {
            let (ann, ben) = (try await first.makeAccount("ann"), try await first.makeAccount("ben"))
            let direct = try await first.openDirect(between: ann, andUserID: ben.user.id).conversation
            for n in 0..<5 { _ = try await first.append(AppendRequest(conversationID: direct.id, sender: ann, text: "\(n)", clientID: "\(n)")) }
            #expect(try await logged() == 0, "alone, nothing is written for others")

            // The first node beats as its server would; the second opens
            // only once the first has beaten since it registered.
            let beating = Task {
                while !Task.isCancelled {
                    _ = try? await first.heartbeat()
                    try? await Task.sleep(for: .milliseconds(PresenceRule.heartbeat))
                }
            }
            let opened = ContinuousClock.now
            let second = try await PostgresChatStore.open(database.location, broker: LocalBroker())
            #expect(ContinuousClock.now - opened >= .milliseconds(PresenceRule.heartbeat), "the newcomer waited for a beat of the first")
            _ = try await first.append(AppendRequest(conversationID: direct.id, sender: ann, text: "heard", clientID: "heard"))
            #expect(try await logged() == 1, "with another node, each commit is written for it")
            beating.cancel()
            await beating.value
            try await second.close()
            try await first.close()
            try await db.close()
        } catch {
            try? await first.close()
            try? await db.close()
            await database.destroy()
            throw error
        }
        await database.destroy()
    }

    @Test("a reader that could not read the log for longer than it keeps rows tells its node that events may be lost (every session there then reconnects and catches up); one that reads on does not")
    func gapLongerThanRetention() async throws {
        let database = try await PostgresTestDatabase()
        try await PostgresChatStore.open(database.location, broker: LocalBroker()).close()
        let clock = TestClock(SystemClock.millis())
        let broker = PostgresBroker(location: database.location, now: { clock.now }, pollInterval: .milliseconds(100))
        let seen = Locked<[ChatEvent]>([])
        broker.subscribe(Handler { event in seen.withLock { $0.append(event) } })
        let started = ContinuousClock.now
        while !broker.hasRead, ContinuousClock.now - started < .seconds(20) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(broker.hasRead, "the reader read the log")
        clock.advance(by: 1_000)
        try await Task.sleep(for: .milliseconds(500))
        #expect(!seen.value.contains(.eventsMissed), "reading on, nothing is missed")

        clock.advance(by: PostgresBroker.safeGap + 1)
        let deadline = ContinuousClock.now + .seconds(5)
        while !seen.value.contains(.eventsMissed), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(seen.value.filter { $0 == .eventsMissed }.count == 1, "told once: \(seen.value)")
        await broker.close()
        await database.destroy()
    }

    private struct Handler: EventHandler {
        let body: @Sendable (ChatEvent) -> Void
        func handle(_ event: ChatEvent) { body(event) }
    }

    private func partitions(_ db: PostgresConnection) async throws -> Set<String> {
        Set(
            try await db.rows(
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'cluster_events'::regclass"
            ).map { try $0.decode(String.self) })
    }
}
