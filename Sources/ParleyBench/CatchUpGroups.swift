// The cast of `reconnect` and `failover`: K members in groups, each group
// with a writer that sends only into it. Members hold what they receive in
// a CatchUpSink (live or by history); writers are MessagingSinks. Also the
// steps both scenarios share: writing, waiting until everyone caught up,
// and checking that nothing acknowledged was lost and nothing came twice.

import Foundation
import NIOCore

final class CatchUpGroups: Sendable {
    let sessions: Int
    let members: Int
    let groups: Int
    /// The members' accounts, in order: member i is in group i / members.
    let users: [BenchUser]
    let writerPairs: [SessionAndSink]
    /// One per member, pinned to one loop for all its sessions.
    let sinks: [CatchUpSink]
    let board: StatsBoard

    private init(sessions: Int, members: Int, groups: Int, users: [BenchUser], writerPairs: [SessionAndSink], sinks: [CatchUpSink], board: StatsBoard) {
        self.sessions = sessions
        self.members = members
        self.groups = groups
        self.users = users
        self.writerPairs = writerPairs
        self.sinks = sinks
        self.board = board
    }

    /// Signs everyone up, makes the groups, and connects writers (writer g
    /// through `writerConnector(g)`) and members (member i through
    /// `memberConnector(i)`). Returns the cast and the members' sessions.
    static func make(env: BenchEnvironment, sessions k: Int, members: Int, title: String,
                     writerConnector: @escaping @Sendable (Int) -> Connector,
                     memberConnector: @escaping @Sendable (Int) -> Connector) async throws -> (CatchUpGroups, [WebSocketSession]) {
        let groups = (k + members - 1) / members
        env.progress("signing up \(k) members and \(groups) writers")
        let users = try await env.setup.signUp(count: k, role: "r", concurrency: env.signupConcurrency)
        let writers = try await env.setup.signUp(count: groups, role: "w", concurrency: env.signupConcurrency)
        let conversationIDs = try await boundedMap(count: groups, concurrency: env.signupConcurrency) { g in
            let ids = users[(g * members)..<min(k, (g + 1) * members)].map(\.id)
            return try await env.setup.createGroup(owner: writers[g], title: "\(title) \(g)", members: ids)
        }
        let index = ConversationIndex(ids: conversationIDs)
        let board = env.board

        let writerPairs: [SessionAndSink] = try await boundedMap(count: groups, concurrency: env.connectConcurrency) { g in
            let loop = env.group.next()
            let sink = MessagingSink(stats: board.stats(for: loop), conversations: index, senderIndex: g, sendConversation: g)
            let s = try await writerConnector(g).open(index: g, token: writers[g].token, sink: sink, on: loop).get()
            return SessionAndSink(session: s, sink: sink)
        }
        let sinks: [CatchUpSink] = (0..<k).map { _ in
            let loop = env.group.next()
            return CatchUpSink(stats: board.stats(for: loop), conversations: index, loop: loop)
        }
        let memberSessions: [WebSocketSession] = try await boundedMap(count: k, concurrency: env.connectConcurrency) { i in
            try await memberConnector(i).open(index: i, token: users[i].token, sink: sinks[i], on: sinks[i].loop).get()
        }
        env.progress("\(k) members and \(groups) writers connected")
        let cast = CatchUpGroups(sessions: k, members: members, groups: groups, users: users, writerPairs: writerPairs, sinks: sinks, board: board)
        return (cast, memberSessions)
    }

    func groupOf(_ member: Int) -> Int { member / members }

    /// Each writer sends `count` messages (window 32) and waits for the acks.
    func write(_ count: Int, seconds: Double) async throws {
        guard count > 0 else { return }
        for p in writerPairs {
            let sink = p.sink
            p.session.loop.execute { sink.startSending(mode: .window(32), start: 0, stop: .max, limit: count) }
        }
        try await waitForAcks(writerPairs, seconds: seconds)
    }

    /// Writers send `perSecond` messages a second in all, evenly, from
    /// `start` until `stop` (monotonic nanoseconds) or `stopLive`.
    func startLive(perSecond total: Double, start: UInt64, stop: UInt64) {
        guard total > 0 else { return }
        let perWriter = total / Double(groups)
        for (index, p) in writerPairs.enumerated() {
            let sink = p.sink
            let first = SendMode.staggeredStart(start, sender: index, of: writerPairs.count, perSecond: perWriter)
            p.session.loop.execute { sink.startSending(mode: .rate(perSecond: perWriter, cap: 256), start: first, stop: stop) }
        }
    }

    func stopLive() {
        for p in writerPairs { let sink = p.sink; p.session.loop.execute { sink.stopSending() } }
    }

    /// Arms every member's catch-up clock at `start`, before reconnecting.
    func beginReconnect(at start: UInt64) async throws {
        for sink in sinks { try await sink.loop.submit { sink.beginReconnect(at: start) }.get() }
    }

    /// How many members have caught up (CatchUpSink.caughtUpAfter).
    func caughtUpCount() async throws -> Int {
        var n = 0
        for sink in sinks where try await sink.loop.submit({ sink.caughtUpAfter != nil }).get() { n += 1 }
        return n
    }

    /// Waits, polling every 20 ms until `deadline`, until every member has
    /// caught up. Returns how many did, and when the last did (seconds after
    /// `start`), if all did.
    func waitUntilCaughtUp(start: UInt64, deadline: UInt64) async throws -> (caughtUp: Int, allAfter: Double?) {
        var caughtUp = 0
        while monotonicNanos() < deadline {
            caughtUp = try await caughtUpCount()
            if caughtUp == sessions { return (caughtUp, Double(monotonicNanos() - start) / 1e9) }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return (caughtUp, nil)
    }

    struct Check {
        var slowest: UInt64 = 0
        var drained = false
        var lost = 0
        var expected = 0
        var liveDuplicates = 0
        var overlap = 0
        var pages = 0
    }

    /// Stops the live writers, waits (up to `drain` s each) for the last
    /// acks and deliveries, and counts what is missing or came twice.
    func check(drain: Double) async throws -> Check {
        var c = Check()
        for sink in sinks {
            if let t = try await sink.loop.submit({ sink.caughtUpAfter }).get() { c.slowest = max(c.slowest, t) }
        }
        stopLive()
        c.drained = (try? await waitForAcks(writerPairs, seconds: drain)) != nil
        (c.lost, c.expected) = try await waitForDeliveries(sinks: sinks, writers: writerPairs, groupOf: groupOf, seconds: drain)
        for sink in sinks {
            let (d, o, p) = try await sink.loop.submit { (sink.liveDuplicates, sink.overlap, sink.historyPages) }.get()
            c.liveDuplicates += d; c.overlap += o; c.pages += p
        }
        return c
    }

    /// Closes members' and writers' sessions (close 1000) and gives the
    /// closes a moment.
    func close(_ memberSessions: [WebSocketSession]) async throws {
        for s in memberSessions { s.loop.execute { s.close(abrupt: false) } }
        for p in writerPairs { p.session.loop.execute { p.session.close(abrupt: false) } }
        try await Task.sleep(nanoseconds: 200_000_000)
    }

    /// The metrics both scenarios report after a catch-up, and `ok`.
    func report(_ c: Check, stats: LoopStats, caughtUp: Int, allAfter: Double?, timeout: Double,
                catchUpLabel: String = "reconnect→caught up", into report: inout Report) {
        report.add("caught up", caughtUp)
        // The slowest member's own clock, read on its loop; the polling that
        // noticed it (`allAfter`) lags behind when the bench is busy.
        if allAfter != nil { report.add("all caught up after", Double(c.slowest) / 1e9, "s") } else { report.notes.append("not everyone caught up within \(timeout) s") }
        if let t = allAfter { report.add("seen all caught up after", t, "s") }
        report.add("history pages", c.pages)
        report.add("acked messages", stats.acked)
        report.add("expected holdings", c.expected, "messages")
        report.add("lost", c.lost)
        report.add("duplicated (live twice)", c.liveDuplicates)
        report.add("history/live overlap", c.overlap, "(expected, de-duplicated)")
        report.latency(catchUpLabel, stats.catchUp)
        if !c.drained { report.notes.append("some sends were still unacknowledged when the drain wait ended") }
        report.ok = c.lost == 0 && c.liveDuplicates == 0 && allAfter != nil && c.drained
    }
}

/// Waits, bounded, until no writer has a send in flight.
func waitForAcks(_ writers: [SessionAndSink], seconds: Double) async throws {
    let deadline = monotonicNanos() + UInt64(seconds * 1e9)
    while true {
        var outstanding = 0
        var idle = true
        for p in writers {
            let sink = p.sink
            let (o, done) = try await p.session.loop.submit { (sink.outstanding, sink.isIdle) }.get()
            outstanding += o
            idle = idle && done
        }
        if outstanding <= 0 && idle { return }
        if monotonicNanos() >= deadline { throw SpawnError(message: "\(outstanding) sends still unacknowledged after \(seconds) s") }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
}

/// Waits, bounded, until every member holds every seq its writer got acked;
/// returns (missing, expected) at the end.
@discardableResult
func waitForDeliveries(sinks: [CatchUpSink], writers: [SessionAndSink], groupOf: (Int) -> Int, seconds: Double) async throws -> (Int, Int) {
    let deadline = monotonicNanos() + UInt64(seconds * 1e9)
    var acked: [SeqSet] = []
    for p in writers {
        let sink = p.sink
        acked.append(try await p.session.loop.submit { sink.ownAcked }.get())
    }
    while true {
        var missing = 0, expected = 0
        for (i, sink) in sinks.enumerated() {
            let g = groupOf(i)
            let target = acked[g]
            let m = try await sink.loop.submit { (sink.held[g] ?? SeqSet()).missing(from: target) }.get()
            missing += m
            expected += target.count
        }
        if missing == 0 || monotonicNanos() >= deadline { return (missing, expected) }
        try await Task.sleep(nanoseconds: 50_000_000)
    }
}
