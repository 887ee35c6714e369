// `fanout`: R groups of M members, one session per member, S senders spread
// over the groups. Measures deliveries/s and send → delivery latency, and
// checks that every member got every acknowledged message exactly once.

import ArgumentParser

public struct FanoutCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "fanout", abstract: "Groups × members, senders spread over the groups: deliveries/s and send → delivery latency.")

    @OptionGroup public var common: CommonOptions
    @Option(help: "Number of groups.") public var groups = 10
    @Option(help: "Members per group (each has one session).") public var members = 10
    @Option(help: "Senders, spread over the groups (sender j is member j / groups of group j % groups).") public var senders = 10
    @Option(help: "Nodes on one PostgreSQL database (more than 1 needs --spawn and --spawn-postgres); session i is on node i mod N.") public var nodes = 1
    @OptionGroup public var sending: SendingOptions

    public init() {}

    public func validate() throws {
        guard groups >= 1, members >= 2, members <= 1000 else { throw ValidationError("need --groups ≥ 1 and 2 ≤ --members ≤ 1000") }
        guard senders >= 1, senders <= groups * members else { throw ValidationError("--senders must be 1 to groups × members") }
        guard groups * members <= 100_000 else { throw ValidationError("at most 100,000 members in all") }
        guard (1...16).contains(nodes) else { throw ValidationError("--nodes must be 1 to 16") }
    }

    public func run() async throws {
        let (groups, members, senders, nodes, sending) = (self.groups, self.members, self.senders, self.nodes, self.sending)
        let report = try await BenchEnvironment.with(common, nodes: nodes) { env in
            env.progress("signing up \(groups * members) users")
            let users = try await env.setup.signUp(count: groups * members, role: "m", concurrency: env.signupConcurrency)
            // Session index = user index; group g holds users g*M ..< (g+1)*M.
            env.progress("creating \(groups) groups")
            let conversationIDs = try await boundedMap(count: groups, concurrency: env.signupConcurrency) { g in
                let slice = users[(g * members)..<((g + 1) * members)]
                return try await env.setup.createGroup(owner: slice.first!, title: "bench \(g)", members: slice.dropFirst().map(\.id))
            }
            let memberLists = (0..<groups).map { g in Array((g * members)..<((g + 1) * members)) }
            let senderList = (0..<senders).map { j -> (session: Int, conversation: Int) in
                let g = j % groups, m = j / groups
                return (g * members + m, g)
            }
            let plan = MessagingPlan(tokens: users.map(\.token), conversations: conversationIDs, members: memberLists, senders: senderList)
            let outcome = try await MessagingRun.run(plan: plan, options: sending.options(env), env: env)
            var report = Report(scenario: "fanout")
            env.describe(into: &report)
            report.parameters["groups"] = "\(groups)"
            report.parameters["members"] = "\(members)"
            report.parameters["senders"] = "\(senders)"
            if nodes > 1 { report.parameters["nodes"] = "\(nodes)" }
            sending.describe(into: &report)
            MessagingRun.describe(outcome, into: &report, deliveries: true)
            return report
        }
        emit(report, json: common.json)
        if !report.ok { throw ExitCode(2) }
    }
}

/// `durable`: many direct conversations, one sender in each (the other
/// member is connected and receives). Measures acknowledged messages/s and
/// ack latency: the ack comes only after the message is on disk.
public struct DurableCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "durable", abstract: "Direct conversations, a sender in each at full speed or --rate: acknowledged messages/s and ack latency.")

    @OptionGroup public var common: CommonOptions
    @Option(help: "Direct conversations (2 users each; the first sends, the second receives).") public var pairs = 50
    @OptionGroup public var sending: SendingOptions

    public init() {}

    public func validate() throws {
        guard (1...50_000).contains(pairs) else { throw ValidationError("--pairs must be 1 to 50,000") }
    }

    public func run() async throws {
        let (pairs, sending) = (self.pairs, self.sending)
        let report = try await BenchEnvironment.with(common) { env in
            env.progress("signing up \(pairs * 2) users")
            let users = try await env.setup.signUp(count: pairs * 2, role: "d", concurrency: env.signupConcurrency)
            env.progress("opening \(pairs) direct conversations")
            let conversationIDs = try await boundedMap(count: pairs, concurrency: env.signupConcurrency) { p in
                try await env.setup.openDirect(from: users[2 * p], with: users[2 * p + 1].id)
            }
            let plan = MessagingPlan(tokens: users.map(\.token), conversations: conversationIDs,
                                     members: (0..<pairs).map { [2 * $0, 2 * $0 + 1] },
                                     senders: (0..<pairs).map { (2 * $0, $0) })
            let outcome = try await MessagingRun.run(plan: plan, options: sending.options(env), env: env)
            var report = Report(scenario: "durable")
            env.describe(into: &report)
            report.parameters["pairs"] = "\(pairs)"
            sending.describe(into: &report)
            MessagingRun.describe(outcome, into: &report, deliveries: true)
            return report
        }
        emit(report, json: common.json)
        if !report.ok { throw ExitCode(2) }
    }
}

/// How `fanout` and `durable` send: as fast as a window of unacknowledged
/// sends allows, or at a fixed total rate, for a bounded time.
public struct SendingOptions: ParsableArguments, Sendable {
    @Option(help: "Unacknowledged sends per sender when sending as fast as possible (at most 256).") public var window = 32
    @Option(help: "Total messages per second over all senders, instead of as fast as possible.") public var rate: Double?
    @Option(help: "Seconds of sending (at most 600).") public var duration = 10.0
    @Option(help: "Seconds to wait after sending for the last acks and deliveries (at most 120).") public var drain = 10.0
    @Option(help: "Filler bytes added to each message text.") public var padding = 0

    public init() {}

    public func validate() throws {
        guard (1...256).contains(window) else { throw ValidationError("--window must be 1 to 256") }
        if let rate { guard rate > 0, rate <= 1_000_000 else { throw ValidationError("--rate must be more than 0 and at most 1,000,000") } }
        _ = try Bounds.duration(duration)
        _ = try Bounds.drain(drain)
    }

    func options(_ env: BenchEnvironment) -> MessagingOptions {
        MessagingOptions(
            duration: duration, window: window, rate: rate, drainSeconds: drain, padding: padding,
            connectConcurrency: env.connectConcurrency)
    }

    func describe(into report: inout Report) {
        report.parameters["mode"] = rate.map { "rate \($0)/s" } ?? "window \(window)"
        report.parameters["duration_s"] = "\(duration)"
        if padding > 0 { report.parameters["padding"] = "\(padding)" }
    }
}
