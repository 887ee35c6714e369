// `failover`: N nodes on one PostgreSQL database (docs/PROTOCOL.md §8). K
// sessions in groups, all on node 1, each group with a writer on a surviving
// node. Some messages flow live, then node 1 is killed (SIGKILL): its
// sockets drop, the writers send while the members are away and go on
// sending during the storm, and all K reconnect at once, spread round robin
// over the surviving nodes as a load balancer would, honouring 1013 (wait
// the time in the reason plus jitter, then retry), and catch up with
// `history` after their last seq. Reports the time from the kill until every
// session is back (`ready`) and until every one has caught up, the 1013s,
// each survivor's peak RSS and CPU during the storm, and checks that nothing
// acknowledged was lost and nothing came live twice.

import ArgumentParser
import Foundation
import NIOCore

public struct FailoverCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "N nodes; kill -9 the one holding K sessions, which reconnect to the others at once (honouring 1013) and catch up: time to recover, refusals, survivors' RSS and CPU.")

    @OptionGroup public var common: CommonOptions
    @Option(help: "Nodes on one PostgreSQL database (needs --spawn and --spawn-postgres); node 1 is killed.") public var nodes = 3
    @Option(help: "Sessions (one user each) on node 1, that reconnect to the others.") public var sessions = 5000
    @Option(help: "Sessions per group; each group also has a writer, on a surviving node.") public var members = 10
    @Option(help: "Messages each writer sends before the kill (received live).") public var before = 5
    @Option(help: "Messages each writer sends after the kill, before the sessions reconnect.") public var missed = 10
    @Option(help: "Messages per second, over all writers, sent from the kill until everyone caught up (0: none).") public var liveRate = 500.0
    @Option(help: "Least seconds from the kill until the sessions reconnect.") public var away = 0.0
    @Option(help: "Most milliseconds of jitter added to the wait a 1013 names (and to the 500 ms after other failures).") public var jitter = 500
    @Option(help: "Most seconds from the kill until everyone caught up (at most 600).") public var timeout = 180.0
    @Option(help: "Seconds to wait at the end for the last acks and deliveries (at most 120).") public var drain = 10.0

    public init() {}

    public func validate() throws {
        guard (2...16).contains(nodes) else { throw ValidationError("--nodes must be 2 to 16") }
        guard common.spawn != nil, common.spawnPostgres != nil else {
            throw ValidationError("failover spawns its nodes: give --spawn and --spawn-postgres")
        }
        guard (1...100_000).contains(sessions) else { throw ValidationError("--sessions must be 1 to 100,000") }
        guard (1...999).contains(members) else { throw ValidationError("--members must be 1 to 999") }
        guard (0...100_000).contains(before), (0...100_000).contains(missed) else { throw ValidationError("--before and --missed must be 0 to 100,000") }
        guard (0...1_000_000).contains(liveRate) else { throw ValidationError("--live-rate must be 0 to 1,000,000") }
        guard (0...60).contains(away) else { throw ValidationError("--away must be 0 to 60 s") }
        guard (0...10_000).contains(jitter) else { throw ValidationError("--jitter must be 0 to 10,000 ms") }
        _ = try Bounds.duration(timeout)
        _ = try Bounds.drain(drain)
    }

    public func run() async throws {
        let (n, k, members, before, missed, liveRate, away, jitter, timeout, drain) =
            (nodes, sessions, self.members, self.before, self.missed, self.liveRate, self.away, self.jitter, self.timeout, self.drain)
        let report = try await BenchEnvironment.with(common, nodes: n) { env in
            let doomed = env.nodes[0]
            let survivors = Array(env.nodes.dropFirst())
            let survivorConnectors = Array(env.connectors.dropFirst())
            let (cast, sessions) = try await CatchUpGroups.make(
                env: env, sessions: k, members: members, title: "failover",
                writerConnector: { g in survivorConnectors[g % survivorConnectors.count] },
                memberConnector: { _ in env.connectors[0] })
            try await cast.write(before, seconds: timeout)
            try await waitForDeliveries(sinks: cast.sinks, writers: cast.writerPairs, groupOf: cast.groupOf, seconds: drain)
            let rssBefore = survivors.map { ProcessMemory.residentBytes(pid: $0.pid) ?? 0 }
            let doomedRSS = ProcessMemory.residentBytes(pid: doomed.pid) ?? 0

            // The kill. Everything after is timed from here.
            env.progress("kill -9 node 1 (pid \(doomed.pid)), holding \(k) sessions")
            let sampler = ProcessSampler(pids: survivors.map(\.pid))
            let benchCPUBefore = clientCPUSeconds()
            let killed = monotonicNanos()
            doomed.crash()
            let deadline = killed + UInt64(timeout * 1e9)
            try await cast.beginReconnect(at: killed)

            // The members notice (their sockets close), the writers send what they miss.
            var dropsSeen = 0
            while monotonicNanos() < killed + 10_000_000_000 {
                dropsSeen = 0
                for s in sessions where try await s.loop.submit({ s.isClosed }).get() { dropsSeen += 1 }
                if dropsSeen == k { break }
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            let dropSeenAfter = Double(monotonicNanos() - killed) / 1e9
            try await cast.write(missed, seconds: timeout)
            let awayUntil = killed + UInt64(away * 1e9)
            if monotonicNanos() < awayUntil { try await Task.sleep(nanoseconds: awayUntil - monotonicNanos()) }

            // Everyone back at once, round robin over the survivors, with live traffic.
            let reconnectAt = monotonicNanos()
            env.progress("reconnecting \(k) sessions to \(survivors.count) nodes, \(Double(reconnectAt - killed) / 1e9) s after the kill")
            cast.startLive(perSecond: liveRate, start: reconnectAt, stop: deadline)
            let sinks = cast.sinks, users = cast.users
            let outcomes: [OpenAttempts] = try await boundedMap(count: k, concurrency: max(k, 1)) { i in
                await survivorConnectors[i % survivorConnectors.count].openHonouringBusy(
                    index: i, token: users[i].token, sink: sinks[i], on: sinks[i].loop, jitterMs: jitter, deadline: deadline)
            }
            let reconnected = outcomes.filter { $0.session != nil }.count
            env.progress("\(reconnected) of \(k) back; waiting for the catch-up")
            let (caughtUp, allCaughtUpAfter) = try await cast.waitUntilCaughtUp(start: killed, deadline: deadline)
            let storm = await sampler.stop()
            let benchCPU = clientCPUSeconds() - benchCPUBefore
            let check = try await cast.check(drain: drain)
            let stats = try await env.board.merged()
            try await cast.close(outcomes.compactMap(\.session))

            var report = Report(scenario: "failover")
            env.describe(into: &report)
            report.parameters["nodes"] = "\(n)"
            report.parameters["sessions"] = "\(k)"
            report.parameters["members"] = "\(members)"
            report.parameters["groups"] = "\(cast.groups)"
            report.parameters["before"] = "\(before)"
            report.parameters["missed"] = "\(missed)"
            report.parameters["live_rate"] = "\(liveRate)"
            report.parameters["jitter_ms"] = "\(jitter)"
            report.add("drops seen", dropsSeen)
            report.add("all drops seen after", dropSeenAfter, "s")
            report.add("reconnects began after", Double(reconnectAt - killed) / 1e9, "s")
            report.add("reconnected", reconnected)
            let readyTimes = outcomes.compactMap(\.readyAt)
            if reconnected == k, let last = readyTimes.max() {
                report.add("all ready after", Double(last - killed) / 1e9, "s")
            } else {
                report.notes.append("\(k - reconnected) sessions never got ready within \(timeout) s of the kill")
            }
            let busy = outcomes.reduce(0) { $0 + $1.busy }
            report.add("1013 refusals", busy)
            report.add("sessions refused at least once", outcomes.filter { $0.busy > 0 }.count)
            report.add("retries", outcomes.reduce(0) { $0 + $1.retries })
            report.add("most attempts by one session", outcomes.map(\.attempts).max() ?? 0)
            cast.report(check, stats: stats, caughtUp: caughtUp, allAfter: allCaughtUpAfter, timeout: timeout,
                        catchUpLabel: "kill→caught up", into: &report)
            var readyHistogram = makeLatencyHistogram()
            for t in readyTimes { _ = readyHistogram.record((t - killed) / 1000) }
            report.latency("kill→ready", readyHistogram)
            if liveRate > 0 { report.latency("send→delivery", stats.delivery) }

            // The survivors during the storm: from the kill until all caught up (or the timeout).
            report.add("storm measured for", storm.seconds, "s")
            report.add("node 1 RSS before the kill", Double(doomedRSS) / 1_048_576, "MiB")
            for (i, node) in survivors.enumerated() {
                let r = storm.processes[i]
                let mine = (0..<k).filter { $0 % survivors.count == i }
                report.add("node \(i + 2): RSS before", Double(rssBefore[i]) / 1_048_576, "MiB")
                report.add("node \(i + 2): peak RSS", Double(r.peakRSS) / 1_048_576, "MiB")
                report.add("node \(i + 2): CPU", r.cpuSeconds, "s")
                report.add("node \(i + 2): 1013 refusals", mine.reduce(0) { $0 + outcomes[$1].busy })
                report.parameters["node\(i + 2)_pid"] = "\(node.pid)"
            }
            report.add("survivors' CPU", storm.processes.reduce(0) { $0 + $1.cpuSeconds }, "s")
            report.add("bench CPU", benchCPU, "s")
            if let cores = storm.machineBusyCores { report.add("machine busy", cores, "cores (of \(System.coreCount))") }

            var failures: [String: Int] = [:]
            for o in outcomes { failures.merge(o.failures, uniquingKeysWith: +) }
            // Failures retried and then overcome are a property of the storm,
            // not an error; those still failing at the deadline are.
            for (kind, count) in failures { report.add("retried after: \(kind)", count) }
            report.errors = stats.errors
            if reconnected < k { report.errors["never reconnected"] = k - reconnected }
            report.ok = report.ok && report.errors.isEmpty
            return report
        }
        emit(report, json: common.json)
        if !report.ok { throw ExitCode(2) }
    }
}
