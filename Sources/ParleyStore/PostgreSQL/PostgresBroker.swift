import Foundation
import Logging
import ParleyCore
import PostgresNIO
import Synchronization

/// The broker of the nodes sharing one PostgreSQL database: each node's
/// sessions hear what happens on every node, through the database itself
/// (`PostgresEventLog`), with no other service and no connection between
/// nodes.
///
/// What this node publishes its own sessions hear at once; other nodes read
/// it from `cluster_events`. The store's events are written there in their
/// commit (`publishCommitted`); the rest (typing, presence, a revoked token,
/// a ban) are written by this broker in batches, on a connection of its
/// own. A reader, on another connection, LISTENs for the others' commits
/// and reads the log from its cursor on each notification, and at least
/// every `pollInterval` in case one was lost; a dropped connection is
/// opened again and reading goes on from the cursor. Each conversation's
/// messages reach this node's sessions in seq order (`MessageOrder`),
/// whichever road they came by.
///
/// Every node reads every event (the hub drops those for users with no
/// session here): PERFORMANCE.md says what that costs.
public final class PostgresBroker: EventBroker {
    /// This process among the nodes: random, new at each start.
    public let node: String
    private let location: PostgresLocation
    private let logger: Logger
    private let now: @Sendable () -> Millis
    private let pollInterval: Duration
    private let slot = HandlerSlot()
    private let orders: [OrderShard]
    private let outgoing = Mutex<[ChatEvent]>([])
    private let outgoingBell = Doorbell()
    private let incomingBell = Doorbell()
    /// The listening session whose reads count: one given up may still
    /// get an answer to its last read, which must then not move the cursor
    /// nor hand rows on a second time.
    private let currentReader = Mutex<UInt64>(0)
    private let writer: PostgresLaneConnection
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let writing = Mutex<Task<Void, Never>?>(nil)
    /// Set by `close`: the writer writes what is left, then stops.
    private let closing = Mutex(false)
    /// The reader's place in the log; nil until it first connects.
    private let cursor = Mutex<PostgresEventLog.Cursor?>(nil)
    /// Rows committed before the reader started, above its first cursor.
    private let skipped = Mutex<Set<Int64>>([])
    /// Who was online elsewhere where the reader starts, told the hub when
    /// it subscribes.
    private let onlineAtStart = Mutex<[Account]>([])
    /// Whether other nodes may read what this one writes; nil: always.
    let audience: ClusterAudience?
    /// When the reader last read the log: a gap longer than the log keeps
    /// rows (less a minute for clocks that disagree) may have lost events.
    private let lastRead = Mutex<Millis?>(nil)
    static let safeGap: Millis = PostgresEventLog.retention - 60_000
    /// Until when this node's own rows are read too, for their messages: a
    /// commit whose answer was lost was never delivered here.
    private let readOwnUntil = Mutex<Millis>(0)

    /// This node's write lane lost a transaction's answer: for the next
    /// minute its own messages in the log are handed on too (`MessageOrder`
    /// drops those delivered already), so that one that did commit reaches
    /// this node's sessions after all.
    func readOwnMessagesForAWhile() {
        let until = now() + 60_000
        readOwnUntil.withLock { $0 = max($0, until) }
    }

    /// How long one read of the log may take before its connection is given up.
    static let readLimit: Duration = .seconds(3)
    /// Whether the reader has read the log at least once.
    var hasRead: Bool { lastRead.withLock { $0 != nil } }

    private final class OrderShard: Sendable {
        let order = Mutex(MessageOrder())
    }

    /// How long a message waits for the one before it (which can only be
    /// missing if it was written before this node started reading).
    static let patience: Millis = 5_000

    public convenience init(
        location: PostgresLocation, node: String = PostgresBroker.newNodeID(), logger: Logger = Logger(label: "parley.cluster"),
        now: @escaping @Sendable () -> Millis = SystemClock.millis, pollInterval: Duration = .seconds(1)
    ) {
        self.init(location: location, node: node, logger: logger, now: now, pollInterval: pollInterval, audience: nil, start: nil)
    }

    /// The store's own broker: it starts reading where the store's opening
    /// looked (before the server took any session), and writes only while
    /// `audience` says another node may read.
    init(
        location: PostgresLocation, node: String, logger: Logger, now: @escaping @Sendable () -> Millis, pollInterval: Duration,
        audience: ClusterAudience?, start: PostgresEventLog.Start?
    ) {
        self.audience = audience
        if let start {
            cursor.withLock { $0 = start.cursor }
            skipped.withLock { $0 = start.skip }
            onlineAtStart.withLock { $0 = start.online }
        }
        self.location = location
        self.node = node
        self.logger = logger
        self.now = now
        self.pollInterval = pollInterval
        self.orders = (0..<16).map { _ in OrderShard() }
        self.writer = PostgresLaneConnection(location: location, role: "events", logger: logger)
    }

    public static func newNodeID() -> String {
        (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    public func subscribe(_ handler: any EventHandler) {
        slot.set(handler, broker: "PostgresBroker")
        // Who is online elsewhere already; the log tells the changes.
        for account in onlineAtStart.withLock({ online in defer { online = [] }; return online }) {
            deliverHere(.onlineChanged(account, online: true, lastSeenTS: nil, contacts: []))
        }
        tasks.withLock { tasks in
            tasks.append(Task { await self.follow() })
            tasks.append(Task { await self.maintain() })
        }
        writing.withLock { $0 = Task { await self.writeOutgoing() } }
    }

    public func publish(_ event: ChatEvent) {
        deliverHere(event)
        outgoing.withLock { outgoing in
            // While PostgreSQL is away the queue is bounded: the oldest go
            // (typing and presence, mostly, which are worth little late).
            if outgoing.count >= Self.outgoingLimit { outgoing.removeFirst(outgoing.count - Self.outgoingLimit + 1) }
            outgoing.append(event)
        }
        outgoingBell.ring()
    }

    static let outgoingLimit = 10_000

    public func publishCommitted(_ event: ChatEvent) {
        deliverHere(event)
    }

    /// Stops reading and writing; what was published and not yet written
    /// is written first.
    public func close() async {
        let running = tasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
        // The writer is not cancelled: what sessions were told on the way
        // out (presence, mostly) still goes to the other nodes.
        closing.withLock { $0 = true }
        outgoingBell.ring()
        await writing.withLock { $0 }?.value
        await writer.close()
    }

    // MARK: This node's sessions

    private func deliverHere(_ event: ChatEvent) {
        guard let handler = slot.handler else { return }
        guard case .messageStored(let message, _, _, _, _) = event else { return handler.handle(event) }
        let shard = orders[Int(UInt(bitPattern: message.conversationID.hashValue) % UInt(orders.count))]
        let now = self.now()
        // Handed on under the shard's lock, so that two roads cannot
        // interleave one conversation's messages.
        shard.order.withLock { order in
            for ready in order.arrived(event, now: now) { handler.handle(ready) }
        }
    }

    private func deliverOverdue() {
        guard let handler = slot.handler else { return }
        let now = self.now()
        for shard in orders {
            shard.order.withLock { order in
                for ready in order.overdue(now: now, patience: Self.patience, forgetAfter: 3_600_000) { handler.handle(ready) }
            }
        }
    }

    // MARK: Reading the other nodes' events

    private struct ListeningEnded: Error {}

    /// One listening connection's life, watched by `follow`.
    private final class ListeningSession: Sendable {
        private struct State {
            var connection: PostgresConnection?
            var wasConnected = false
            var abandoned = false
            var progress: Millis
            var ended = false
            var error: (any Error)?
        }

        private let state: Mutex<State>

        let generation: UInt64

        init(now: Millis, generation: UInt64) {
            state = Mutex(State(progress: now))
            self.generation = generation
        }

        /// False when the session was abandoned while connecting: the
        /// caller then closes the connection, which nobody else will.
        func connected(_ connection: PostgresConnection, at now: Millis) -> Bool {
            state.withLock {
                guard !$0.abandoned else { return false }
                $0.connection = connection
                $0.wasConnected = true
                $0.progress = now
                return true
            }
        }

        func progressed(at now: Millis) { state.withLock { $0.progress = now } }

        func end(_ error: (any Error)?) {
            state.withLock {
                $0.ended = true
                $0.error = error
            }
        }

        var lastProgress: Millis { state.withLock { $0.progress } }
        var wasConnected: Bool { state.withLock { $0.wasConnected } }
        var outcome: (ended: Bool, error: (any Error)?) { state.withLock { ($0.ended, $0.error) } }

        /// Closes the connection in the background: on a connection that
        /// stopped answering, even closing may never finish.
        func abandon() {
            let connection = state.withLock { state in
                state.abandoned = true
                return state.connection.take()
            }
            guard let connection else { return }
            Task { try? await connection.close() }
        }
    }

    /// Reads the log for as long as the broker runs: a connection that is
    /// lost, or that stops answering (no read done for `staleAfter`,
    /// whereas an idle reader reads every `pollInterval`), is given up and
    /// another opened; reading goes on from the cursor.
    private func follow() async {
        let staleAfter = Millis(pollInterval.components.seconds * 1_000) * 3 + 5_000
        var failures = 0
        while !Task.isCancelled {
            let session = ListeningSession(now: now(), generation: currentReader.withLock { $0 += 1; return $0 })
            let running = Task { await self.listen(session) }
            var stale = false
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                if session.outcome.ended { break }
                if now() - session.lastProgress > staleAfter {
                    stale = true
                    break
                }
            }
            running.cancel()
            session.abandon()
            guard !Task.isCancelled else { return }
            let error: (any Error)? = stale ? PostgresTransactionTimedOut(limit: .milliseconds(staleAfter)) : session.outcome.error
            guard let error else { continue }
            if session.wasConnected { failures = 0 }
            failures += 1
            if failures == 1 {
                logger.warning("lost the other nodes' events for now, catching up when PostgreSQL is back: \(PostgresFailure.reason(error))")
            }
            try? await Task.sleep(for: .milliseconds(min(2_000, 100 * failures)))
        }
    }

    private func listen(_ session: ListeningSession) async {
        let quiet = logger.errorsOnly
        do {
            let connection = try await location.connect(logger: quiet, role: "listener")
            guard session.connected(connection, at: now()) else {
                try? await connection.close()
                throw ListeningEnded()
            }
            try await connection.listen(on: PostgresEventLog.channel) { notifications in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await _ in notifications { self.incomingBell.ring() }
                        throw ListeningEnded()
                    }
                    group.addTask { try await self.read(connection, session) }
                    try await group.next()
                    group.cancelAll()
                }
            }
            session.end(nil)
        } catch {
            session.end(error)
        }
    }

    /// Reads from the cursor whenever woken; LISTEN is active before the
    /// first read, so nothing committed after it goes unnoticed.
    private func read(_ connection: PostgresConnection, _ session: ListeningSession) async throws {
        if cursor.withLock({ $0 }) == nil {
            let start = try await PostgresEventLog.start(connection)
            skipped.withLock { $0 = start.skip }
            cursor.withLock { $0 = start.cursor }
            for account in start.online { deliverHere(.onlineChanged(account, online: true, lastSeenTS: nil, contacts: [])) }
        }
        session.progressed(at: now())
        var waitingRounds = 0
        var lastOverdueCheck: Millis = 0
        while !Task.isCancelled {
            guard let from = cursor.withLock({ $0 }) else { return }
            // A connection PostgreSQL ended may leave a query unanswered
            // (see PostgresDeadline): give it up soon and connect again.
            let (rows, waiting) = try await PostgresDeadline.run(
                Self.readLimit, timedOut: { PostgresTransactionTimedOut(limit: Self.readLimit) }
            ) { try await PostgresEventLog.read(after: from, limit: 512, connection) }
            let readAt = now()
            session.progressed(at: readAt)
            if let last = lastRead.withLock({ previous in defer { previous = readAt }; return previous }), readAt - last > Self.safeGap {
                logger.error("the other nodes' events could not be read for \((readAt - last) / 1000) s, longer than they are kept: every session here reconnects and catches up")
                deliverHere(.eventsMissed)
            }
            let current = currentReader.withLock { current in
                guard current == session.generation else { return false }
                handOn(rows)
                if let last = rows.last { cursor.withLock { $0 = last.cursor } }
                return true
            }
            guard current else { throw ListeningEnded() }
            // Held messages are given up only after a read: a reader back
            // from a lost connection first reads what it missed.
            if now() - lastOverdueCheck >= 1_000 {
                lastOverdueCheck = now()
                deliverOverdue()
            }
            if waiting {
                // Rows behind a transaction still running, or more than one
                // read's worth: again soon.
                waitingRounds += 1
                if rows.isEmpty { try await Task.sleep(for: .milliseconds(min(50, 2 * waitingRounds))) }
                continue
            }
            waitingRounds = 0
            await incomingBell.wait(upTo: pollInterval)
        }
    }

    /// One read's events, each conversation's messages in seq order among
    /// the places they had (transaction ids are not commit order).
    private func handOn(_ rows: [PostgresEventLog.Row]) {
        var events: [ChatEvent] = []
        events.reserveCapacity(rows.count)
        let skip = skipped.withLock { skipped in
            defer { if !rows.isEmpty { skipped.subtract(rows.map(\.cursor.id)) } }
            return skipped
        }
        let readOwn = now() < readOwnUntil.withLock { $0 }
        for row in rows where (row.node != node || readOwn) && !skip.contains(row.cursor.id) {
            do {
                let decoded = try ChatEventCodec.decode(row.body)
                if row.node == node {
                    events.append(contentsOf: decoded.filter { if case .messageStored = $0 { true } else { false } })
                } else {
                    events.append(contentsOf: decoded)
                }
            } catch {
                logger.error("events from node \(row.node) could not be read, skipped: \(error)")
            }
        }
        var places: [String: [Int]] = [:]
        for (index, event) in events.enumerated() {
            if case .messageStored(let message, _, _, _, _) = event { places[message.conversationID, default: []].append(index) }
        }
        for indices in places.values where indices.count > 1 {
            let sorted = indices.map { events[$0] }.sorted { $0.seq < $1.seq }
            for (index, event) in zip(indices, sorted) { events[index] = event }
        }
        for event in events { deliverHere(event) }
    }

    // MARK: Writing what this node publishes

    private func writeOutgoing() async {
        var failures = 0
        while true {
            let batch = outgoing.withLock { outgoing in
                defer { outgoing = [] }
                return outgoing
            }
            if batch.isEmpty {
                if closing.withLock({ $0 }) { return }
                await outgoingBell.wait(upTo: .seconds(60))
                continue
            }
            // Alone: delivered here already, and nobody else to tell.
            if let audience, !audience.othersMayRead { continue }
            do {
                let node = self.node, at = now()
                try await writer.transaction(logger: logger) { db in
                    try await PostgresEventLog.append(batch, node: node, now: at, db)
                }
                failures = 0
            } catch {
                failures += 1
                // Typing and presence are worth little late; a revoked token
                // or a ban is also stored, and checked again at each sign-in.
                guard failures < 20, !closing.withLock({ $0 }) else {
                    logger.error("\(batch.count) events were not passed to the other nodes: \(PostgresFailure.reason(error))")
                    failures = 0
                    continue
                }
                outgoing.withLock { $0.insert(contentsOf: batch, at: 0) }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    // MARK: Keeping the log

    private func maintain() async {
        let quiet = logger.errorsOnly
        while !Task.isCancelled {
            do {
                let connection = try await location.connect(logger: quiet, role: "maintenance")
                do {
                    try await PostgresEventLog.maintain(now: now(), connection, logger: quiet)
                } catch {
                    logger.warning("could not keep the cluster event log: \(PostgresFailure.reason(error))")
                }
                try? await connection.close()
            } catch {
                // Unreachable: the reader says so.
            }
            try? await Task.sleep(for: .seconds(30))
        }
    }
}

extension ChatEvent {
    /// A message's seq (0 for any other event).
    fileprivate var seq: Int64 {
        if case .messageStored(let message, _, _, _, _) = self { return message.seq }
        return 0
    }
}
