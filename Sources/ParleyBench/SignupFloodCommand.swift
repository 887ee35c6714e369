// `signup-flood`: N clients sign up as fast as they can, each request from a
// new loopback address (so per-address limits do not stop them), while one
// real user logs in every quarter second: how long that user waits to be
// logged in (retrying after `retry_after_ms` when refused, as a client
// should), and what became of the flood.

import ArgumentParser
import Foundation
import NIOCore
import Synchronization

public struct SignupFloodCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "signup-flood",
        abstract: "Clients flooding sign-ups from many addresses while a real user logs in: the user's login time.")

    @OptionGroup public var common: CommonOptions
    @Option(help: "Clients signing up at once, each from a new address per request.") public var flooders = 32
    @Option(help: "Seconds the flood lasts.") public var duration = 10.0
    @Option(help: "Milliseconds between the real user's logins.") public var loginEvery = 250

    public init() {}

    public func validate() throws {
        guard (1...1000).contains(flooders) else { throw ValidationError("--flooders must be 1 to 1000") }
        _ = try Bounds.duration(duration)
        guard (10...10_000).contains(loginEvery) else { throw ValidationError("--login-every must be 10 to 10,000 ms") }
    }

    /// Outcomes of the flood's requests by HTTP status (0: no answer).
    final class Tally: Sendable {
        private let counts = Mutex<[Int: Int]>([:])
        func add(_ status: Int) { counts.withLock { $0[status, default: 0] += 1 } }
        var all: [Int: Int] { counts.withLock { $0 } }
    }

    /// Hands out a new client address for every request: 127.1.0.1 …
    final class Addresses: Sendable {
        private let next = Atomic(0)
        func take() -> String {
            let k = next.add(1, ordering: .relaxed).newValue
            return "127.1.\((k / 250) % 250).\(k % 250 + 1)"
        }
    }

    public func run() async throws {
        let (flooders, duration, loginEvery) = (self.flooders, self.duration, self.loginEvery)
        let report = try await BenchEnvironment.with(common) { env in
            env.progress("signing up the real user")
            let real = try await env.setup.signUp(count: 1, role: "u", concurrency: 1)[0]
            let password = "bench-password-\(env.setup.runID)"
            let quiet = try await env.setup.logInTimes(handle: real.handle, password: password, count: 5, every: .milliseconds(100))

            env.progress("flooding with \(flooders) clients for \(duration) s")
            let tally = Tally()
            let addresses = Addresses()
            let deadline = ContinuousClock.now + .milliseconds(Int64(duration * 1000))
            let runID = env.setup.runID
            let cpuBefore = env.serverCPUSeconds()
            async let during = env.setup.logInTimes(
                handle: real.handle, password: password, until: deadline, every: .milliseconds(loginEvery))
            await withTaskGroup(of: Void.self) { group in
                for flooder in 0..<flooders {
                    group.addTask {
                        var n = 0
                        while ContinuousClock.now < deadline {
                            let source = addresses.take()
                            let body = #"{"handle":"fl\#(runID)\#(flooder)x\#(n)","password":"flood-password-1"}"#
                            n += 1
                            let status = (try? await SourcedHTTP.post(
                                env.target, path: "/v1/accounts", json: body, from: source, group: env.group).status) ?? 0
                            tally.add(status)
                        }
                    }
                }
            }
            let duringFlood = try await during
            let cpuAfter = env.serverCPUSeconds()

            var report = Report(scenario: "signup-flood")
            env.describe(into: &report)
            report.parameters["flooders"] = "\(flooders)"
            report.parameters["duration_s"] = "\(duration)"
            report.parameters["login_every_ms"] = "\(loginEvery)"
            let outcomes = tally.all
            report.add("sign-ups accepted", outcomes[201] ?? 0)
            report.add("sign-ups refused 503", outcomes[503] ?? 0)
            report.add("sign-ups refused 429", outcomes[429] ?? 0)
            report.add("sign-ups failed otherwise", outcomes.filter { ![201, 503, 429].contains($0.key) }.values.reduce(0, +))
            report.add("logins during the flood", duringFlood.times.count)
            report.add("login attempts refused", duringFlood.refusals)
            if let cpuBefore, let cpuAfter { report.add("server CPU", (cpuAfter - cpuBefore) / duration * 100, "% of one core") }
            report.latency("login, quiet", quiet.histogram)
            report.latency("login during flood", duringFlood.histogram)
            report.ok = !duringFlood.times.isEmpty
            return report
        }
        emit(report, json: common.json)
        if !report.ok { throw ExitCode(2) }
    }
}
