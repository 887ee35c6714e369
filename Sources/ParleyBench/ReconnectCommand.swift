// `reconnect`: K sessions in groups, each group with a writer. The K sessions
// drop at once (TCP close, no close frame, like a network failure), the
// writers send while they are away, then all K reconnect at once and catch
// up with `history`. Reports the time until all have caught up, and checks
// that nothing acknowledged was lost and nothing came live twice.

import ArgumentParser
import Foundation
import NIOCore

public struct ReconnectCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "reconnect", abstract: "K sessions drop and reconnect at once, then catch up with history: time to catch up, lost and duplicated messages.")

    @OptionGroup public var common: CommonOptions
    @Option(help: "Sessions (one user each) that drop and reconnect.") public var sessions = 200
    @Option(help: "Sessions per group; each group also has a writer.") public var members = 10
    @Option(help: "Messages each writer sends before the drop (received live).") public var before = 5
    @Option(help: "Messages each writer sends while the sessions are away.") public var missed = 300
    @Option(help: "Messages per second, over all writers, sent during the reconnect (0: none).") public var liveRate = 0.0
    @Option(help: "Seconds to wait after the drop before sending the missed messages.") public var away = 1.0
    @Option(help: "Most seconds to wait for everyone to catch up (at most 600).") public var timeout = 60.0
    @Option(help: "Seconds to wait at the end for the last acks and deliveries (at most 120).") public var drain = 10.0

    public init() {}

    public func validate() throws {
        guard (1...100_000).contains(sessions) else { throw ValidationError("--sessions must be 1 to 100,000") }
        guard (1...999).contains(members) else { throw ValidationError("--members must be 1 to 999") }
        guard (0...100_000).contains(before), (0...100_000).contains(missed) else { throw ValidationError("--before and --missed must be 0 to 100,000") }
        guard (0...1_000_000).contains(liveRate) else { throw ValidationError("--live-rate must be 0 to 1,000,000") }
        guard (0...60).contains(away) else { throw ValidationError("--away must be 0 to 60 s") }
        _ = try Bounds.duration(timeout)
        _ = try Bounds.drain(drain)
    }

    public func run() async throws {
        let (k, members, before, missed, liveRate, away, timeout, drain) =
            (sessions, self.members, self.before, self.missed, self.liveRate, self.away, self.timeout, self.drain)
        let report = try await BenchEnvironment.with(common) { env in
            let groups = (k + members - 1) / members
            env.progress("signing up \(k) members and \(groups) writers")
            let users = try await env.setup.signUp(count: k, role: "r", concurrency: env.signupConcurrency)
            let writers = try await env.setup.signUp(count: groups, role: "w", concurrency: env.signupConcurrency)
            let groupOf = { (i: Int) in i / members }
            let conversationIDs = try await boundedMap(count: groups, concurrency: env.signupConcurrency) { g in
                let ids = users[(g * members)..<min(k, (g + 1) * members)].map(\.id)
                return try await env.setup.createGroup(owner: writers[g], title: "reconnect \(g)", members: ids)
            }
            let index = ConversationIndex(ids: conversationIDs)
            let board = env.board

            // Writers: a MessagingSink each, sending only into its group.
            let writerPairs: [SessionAndSink] = try await boundedMap(count: groups, concurrency: env.connectConcurrency) { g in
                let loop = env.group.next()
                let sink = MessagingSink(stats: board.stats(for: loop), conversations: index, senderIndex: g, sendConversation: g)
                let s = try await env.connector.open(index: g, token: writers[g].token, sink: sink, on: loop).get()
                return SessionAndSink(session: s, sink: sink)
            }
            // Members: a CatchUpSink each, pinned to one loop for all its sessions.
            let sinks: [CatchUpSink] = (0..<k).map { _ in
                let loop = env.group.next()
                return CatchUpSink(stats: board.stats(for: loop), conversations: index, loop: loop)
            }
            var memberSessions: [WebSocketSession] = try await boundedMap(count: k, concurrency: env.connectConcurrency) { i in
                try await env.connector.open(index: i, token: users[i].token, sink: sinks[i], on: sinks[i].loop).get()
            }
            env.progress("\(k) members and \(groups) writers connected")

            // Each writer sends `count` messages (window 32) and waits for the acks.
            @Sendable func write(_ count: Int) async throws {
                guard count > 0 else { return }
                for p in writerPairs {
                    let sink = p.sink
                    p.session.loop.execute { sink.startSending(mode: .window(32), start: 0, stop: .max, limit: count) }
                }
                try await waitForAcks(writerPairs, seconds: timeout)
            }
            try await write(before)
            try await waitForDeliveries(sinks: sinks, writers: writerPairs, groupOf: groupOf, seconds: drain)

            // Drop everyone at once.
            env.progress("dropping \(k) sessions")
            for s in memberSessions { s.loop.execute { s.close(abrupt: true) } }
            try await Task.sleep(nanoseconds: UInt64(away * 1e9))
            try await write(missed)

            // Reconnect everyone at once, with live traffic if asked.
            env.progress("reconnecting \(k) sessions")
            let start = monotonicNanos()
            for sink in sinks { try await sink.loop.submit { sink.beginReconnect(at: start) }.get() }
            if liveRate > 0 {
                let perWriter = liveRate / Double(groups)
                for (index, p) in writerPairs.enumerated() {
                    let sink = p.sink
                    let first = SendMode.staggeredStart(start, sender: index, of: writerPairs.count, perSecond: perWriter)
                    p.session.loop.execute { sink.startSending(mode: .rate(perSecond: perWriter, cap: 256), start: first, stop: start + UInt64(timeout * 1e9)) }
                }
            }
            var reconnectErrors: [String: Int] = [:]
            let reopened: [WebSocketSession?] = try await boundedMap(count: k, concurrency: max(k, 1)) { i in
                try? await env.connector.open(index: i, token: users[i].token, sink: sinks[i], on: sinks[i].loop).get()
            }
            let readyAll = Double(monotonicNanos() - start) / 1e9
            for (i, s) in reopened.enumerated() where s == nil { _ = i; reconnectErrors["reconnect failed", default: 0] += 1 }
            memberSessions = reopened.compactMap { $0 }

            // Wait, bounded, until every session has caught up.
            let deadline = start + UInt64(timeout * 1e9)
            var caughtUp = 0
            var allCaughtUpAt: Double?
            while monotonicNanos() < deadline {
                caughtUp = 0
                for sink in sinks where try await sink.loop.submit({ sink.caughtUpAfter != nil }).get() { caughtUp += 1 }
                if caughtUp == k { allCaughtUpAt = Double(monotonicNanos() - start) / 1e9; break }
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            var slowest: UInt64 = 0
            for sink in sinks {
                if let t = try await sink.loop.submit({ sink.caughtUpAfter }).get() { slowest = max(slowest, t) }
            }
            // Stop live writers, then check that everything acked arrived.
            for p in writerPairs { let sink = p.sink; p.session.loop.execute { sink.stopSending() } }
            let drained = (try? await waitForAcks(writerPairs, seconds: drain)) != nil
            let (lost, expected) = try await waitForDeliveries(sinks: sinks, writers: writerPairs, groupOf: groupOf, seconds: drain)
            var liveDup = 0, overlap = 0, pages = 0
            for sink in sinks {
                let (d, o, p) = try await sink.loop.submit { (sink.liveDuplicates, sink.overlap, sink.historyPages) }.get()
                liveDup += d; overlap += o; pages += p
            }
            let stats = try await board.merged()
            for s in memberSessions { s.loop.execute { s.close(abrupt: false) } }
            for p in writerPairs { p.session.loop.execute { p.session.close(abrupt: false) } }
            try await Task.sleep(nanoseconds: 200_000_000)

            var report = Report(scenario: "reconnect")
            env.describe(into: &report)
            report.parameters["sessions"] = "\(k)"
            report.parameters["members"] = "\(members)"
            report.parameters["groups"] = "\(groups)"
            report.parameters["before"] = "\(before)"
            report.parameters["missed"] = "\(missed)"
            if liveRate > 0 { report.parameters["live_rate"] = "\(liveRate)" }
            report.add("reconnected", memberSessions.count)
            report.add("all ready after", readyAll, "s")
            report.add("caught up", caughtUp)
            if let t = allCaughtUpAt { report.add("all caught up after", t, "s") } else { report.notes.append("not everyone caught up within \(timeout) s") }
            report.add("slowest catch-up", Double(slowest) / 1e9, "s")
            report.add("history pages", pages)
            report.add("acked messages", stats.acked)
            report.add("expected holdings", expected, "messages")
            report.add("lost", lost)
            report.add("duplicated (live twice)", liveDup)
            report.add("history/live overlap", overlap, "(expected, de-duplicated)")
            report.latency("reconnect→caught up", stats.catchUp)
            if liveRate > 0 { report.latency("send→delivery", stats.delivery) }
            report.errors = stats.errors.merging(reconnectErrors, uniquingKeysWith: +)
            report.ok = lost == 0 && liveDup == 0 && allCaughtUpAt != nil && drained && report.errors.isEmpty
            return report
        }
        emit(report, json: common.json)
        if !report.ok { throw ExitCode(2) }
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
