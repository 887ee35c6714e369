// `connections`: K authenticated idle sessions; the server's resident memory
// per session is (RSS after − RSS before) / K, read from /proc/PID/status of
// the spawned server or of --server-pid.

import ArgumentParser
import Foundation
import NIOCore

public struct ConnectionsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "connections", abstract: "K idle authenticated sessions: server memory per session and connect rate.")

    @OptionGroup public var common: CommonOptions
    @Option(help: "Sessions to open.") public var sessions = 1000
    @Option(help: "Sessions per user (the server allows 20 by default; when spawning, a higher value raises --max-sessions).") public var perUser = 20
    @Option(help: "Seconds to wait after the last session opened before reading memory.") public var settle = 3.0
    @Option(help: "Seconds to keep the sessions open after the reading (at most 600).") public var hold = 0.0

    public init() {}

    public func validate() throws {
        guard (1...200_000).contains(sessions) else { throw ValidationError("--sessions must be 1 to 200,000") }
        guard perUser >= 1 else { throw ValidationError("--per-user must be at least 1") }
        guard (0...60).contains(settle) else { throw ValidationError("--settle must be 0 to 60 s") }
        guard (0...Bounds.maxDuration).contains(hold) else { throw ValidationError("--hold must be 0 to 600 s") }
    }

    public func run() async throws {
        let (k, perUser, settle, hold) = (sessions, self.perUser, self.settle, self.hold)
        let maxSessions = common.spawn != nil && perUser > 20 ? perUser : nil
        let report = try await BenchEnvironment.with(common, maxSessions: maxSessions) { env in
            if k + 200 > env.fileLimit {
                throw ValidationError("\(k) sessions need more than this process's open-file limit (\(env.fileLimit)); run several benches, or fewer sessions")
            }
            let userCount = (k + perUser - 1) / perUser
            env.progress("signing up \(userCount) users")
            let users = try await env.setup.signUp(count: userCount, role: "c", concurrency: env.signupConcurrency)
            try await Task.sleep(nanoseconds: 1_000_000_000)
            let before = env.serverResidentBytes()
            let clientBefore = ProcessMemory.residentBytes(pid: getpid())

            env.progress("opening \(k) sessions")
            let start = monotonicNanos()
            let connect = TaskHistogram()
            let results: [OpenResult] = try await boundedMap(count: k, concurrency: env.connectConcurrency) { i in
                let t0 = monotonicNanos()
                do {
                    let s = try await env.connector.open(index: i, token: users[i / perUser].token, sink: nil).get()
                    return OpenResult(session: s, error: nil, micros: (monotonicNanos() - t0) / 1000)
                } catch {
                    return OpenResult(session: nil, error: "\(error)", micros: 0)
                }
            }
            let openSeconds = Double(monotonicNanos() - start) / 1e9
            let opened = results.compactMap(\.session)
            for r in results where r.session != nil { connect.record(r.micros) }
            env.progress("\(opened.count) sessions ready in \(String(format: "%.1f", openSeconds)) s; settling \(settle) s")
            try await Task.sleep(nanoseconds: UInt64(settle * 1e9))
            let after = env.serverResidentBytes()
            let clientAfter = ProcessMemory.residentBytes(pid: getpid())
            // Still open? (The server may close idle sockets; it should not.)
            var stillOpen = 0
            for s in opened { if try await s.loop.submit({ !s.isClosed }).get() { stillOpen += 1 } }
            if hold > 0 {
                env.progress("holding \(hold) s")
                try await Task.sleep(nanoseconds: UInt64(hold * 1e9))
            }
            var openAfterHold = 0
            for s in opened { if try await s.loop.submit({ !s.isClosed }).get() { openAfterHold += 1 } }
            for s in opened { s.loop.execute { s.close(abrupt: false) } }
            try await Task.sleep(nanoseconds: 500_000_000)

            var report = Report(scenario: "connections")
            env.describe(into: &report)
            report.parameters["sessions"] = "\(k)"
            report.parameters["users"] = "\(userCount)"
            report.parameters["per_user"] = "\(perUser)"
            report.add("sessions opened", opened.count)
            report.add("failed", k - opened.count)
            report.add("open after settle", stillOpen)
            if hold > 0 { report.add("open after hold", openAfterHold) }
            report.add("open time", openSeconds, "s")
            report.add("sessions/s", Double(opened.count) / openSeconds, "sessions/s")
            if let before, let after, !opened.isEmpty {
                report.add("server RSS before", Double(before) / 1_048_576, "MiB")
                report.add("server RSS after", Double(after) / 1_048_576, "MiB")
                report.add("server RSS per session", Double(after - before) / Double(opened.count) / 1024, "KiB")
            } else {
                report.notes.append("no server memory reading: use --spawn or --server-pid")
            }
            if let clientBefore, let clientAfter, !opened.isEmpty {
                report.add("bench RSS per session", Double(clientAfter - clientBefore) / Double(opened.count) / 1024, "KiB")
            }
            report.latency("connect→ready", connect.value)
            var errors: [String: Int] = [:]
            for r in results { if let e = r.error { errors[e, default: 0] += 1 } }
            report.errors = errors
            report.ok = opened.count == k && stillOpen == opened.count && (hold == 0 || openAfterHold == opened.count)
            return report
        }
        emit(report, json: common.json)
        if !report.ok { throw ExitCode(2) }
    }
}

struct OpenResult: Sendable {
    var session: WebSocketSession?
    var error: String?
    var micros: UInt64
}

/// A histogram filled from one task (not on an event loop).
final class TaskHistogram {
    var value = makeLatencyHistogram()
    func record(_ micros: UInt64) { _ = value.record(micros) }
}
