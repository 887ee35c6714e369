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
            let (cast, sessions) = try await CatchUpGroups.make(env: env, sessions: k, members: members, title: "reconnect",
                                                                writerConnector: { _ in env.connector }, memberConnector: { _ in env.connector })
            try await cast.write(before, seconds: timeout)
            try await waitForDeliveries(sinks: cast.sinks, writers: cast.writerPairs, groupOf: cast.groupOf, seconds: drain)

            // Drop everyone at once.
            env.progress("dropping \(k) sessions")
            for s in sessions { s.loop.execute { s.close(abrupt: true) } }
            try await Task.sleep(nanoseconds: UInt64(away * 1e9))
            try await cast.write(missed, seconds: timeout)

            // Reconnect everyone at once, with live traffic if asked.
            env.progress("reconnecting \(k) sessions")
            let start = monotonicNanos()
            try await cast.beginReconnect(at: start)
            cast.startLive(perSecond: liveRate, start: start, stop: start + UInt64(timeout * 1e9))
            var reconnectErrors: [String: Int] = [:]
            let sinks = cast.sinks, users = cast.users
            let reopened: [WebSocketSession?] = try await boundedMap(count: k, concurrency: max(k, 1)) { i in
                try? await env.connector.open(index: i, token: users[i].token, sink: sinks[i], on: sinks[i].loop).get()
            }
            let readyAll = Double(monotonicNanos() - start) / 1e9
            for s in reopened where s == nil { reconnectErrors["reconnect failed", default: 0] += 1 }
            let memberSessions = reopened.compactMap { $0 }

            // Wait, bounded, until every session has caught up; then check.
            let (caughtUp, allCaughtUpAt) = try await cast.waitUntilCaughtUp(start: start, deadline: start + UInt64(timeout * 1e9))
            let check = try await cast.check(drain: drain)
            let stats = try await env.board.merged()
            try await cast.close(memberSessions)

            var report = Report(scenario: "reconnect")
            env.describe(into: &report)
            report.parameters["sessions"] = "\(k)"
            report.parameters["members"] = "\(members)"
            report.parameters["groups"] = "\(cast.groups)"
            report.parameters["before"] = "\(before)"
            report.parameters["missed"] = "\(missed)"
            if liveRate > 0 { report.parameters["live_rate"] = "\(liveRate)" }
            report.add("reconnected", memberSessions.count)
            report.add("all ready after", readyAll, "s")
            cast.report(check, stats: stats, caughtUp: caughtUp, allAfter: allCaughtUpAt, timeout: timeout, into: &report)
            if liveRate > 0 { report.latency("send→delivery", stats.delivery) }
            report.errors = stats.errors.merging(reconnectErrors, uniquingKeysWith: +)
            report.ok = report.ok && report.errors.isEmpty
            return report
        }
        emit(report, json: common.json)
        if !report.ok { throw ExitCode(2) }
    }
}
