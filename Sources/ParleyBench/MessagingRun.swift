// The run shared by `fanout` and `durable`: open one session per member,
// let the senders go for --duration seconds, wait (bounded) for the last
// acks and deliveries, then count exactly what was lost or duplicated.

import Foundation
import NIOCore
import NIOPosix

public struct MessagingPlan: Sendable {
    /// Token of each session (one session per member).
    public var tokens: [String]
    /// Conversation ids and the sessions that are members of each.
    public var conversations: [String]
    public var members: [[Int]]
    /// (session, conversation) of each sender.
    public var senders: [(session: Int, conversation: Int)]
}

public struct MessagingOptions: Sendable {
    public var duration: Double
    public var window: Int
    public var rate: Double?
    public var drainSeconds: Double
    public var padding: Int
    public var connectConcurrency: Int
}

public struct MessagingOutcome {
    public var stats: LoopStats
    public var duration: Double
    public var expected: Int
    public var lost: Int
    public var unackedDelivered: Int
    public var sessions: Int
    public var openSeconds: Double
    public var drainedCleanly: Bool
    public var serverCPUSeconds: Double?
    public var clientCPUSeconds: Double
}

public enum MessagingRun {
    public static func run(plan: MessagingPlan, options: MessagingOptions, env: BenchEnvironment) async throws -> MessagingOutcome {
        let index = ConversationIndex(ids: plan.conversations)
        var senders: [Int: Int] = [:]  // session -> conversation it sends into
        for s in plan.senders { senders[s.session] = s.conversation }
        let senderOf = senders

        // Several nodes: session i on node i mod N (round robin, as a load
        // balancer would), and each conversation's sender's node, if it has one.
        let nodes = env.connectors.count
        var senderNodes = [Int](repeating: -1, count: plan.conversations.count)
        if nodes > 1 {
            var count = [Int](repeating: 0, count: plan.conversations.count)
            for s in plan.senders { count[s.conversation] += 1; senderNodes[s.conversation] = s.session % nodes }
            for c in count.indices where count[c] != 1 { senderNodes[c] = -1 }
        }
        let senderNodesOf = senderNodes

        // Open every session; each sink lives on its session's loop.
        let openStart = monotonicNanos()
        let board = env.board
        let pairs: [SessionAndSink] = try await boundedMap(count: plan.tokens.count, concurrency: options.connectConcurrency) { i in
            let loop = env.group.next()
            let sink = MessagingSink(stats: board.stats(for: loop), conversations: index, senderIndex: i,
                                     sendConversation: senderOf[i], padding: options.padding,
                                     node: nodes > 1 ? i % nodes : -1, senderNodes: senderNodesOf)
            let session = try await env.connectors[i % nodes].open(index: i, token: plan.tokens[i], sink: sink, on: loop).get()
            return SessionAndSink(session: session, sink: sink)
        }
        let openSeconds = Double(monotonicNanos() - openStart) / 1e9
        env.progress("\(pairs.count) sessions ready in \(String(format: "%.1f", openSeconds)) s")
        // Let the presence events of the sign-ins pass before measuring.
        try await Task.sleep(nanoseconds: 500_000_000)

        let mode: SendMode
        if let rate = options.rate {
            mode = .rate(perSecond: rate / Double(max(1, plan.senders.count)), cap: 256)
        } else {
            mode = .window(min(256, max(1, options.window)))
        }
        let start = monotonicNanos() + 50_000_000
        let stop = start + UInt64(options.duration * 1e9)
        let cpuServerBefore = env.serverCPUSeconds()
        let cpuClientBefore = clientCPUSeconds()
        for p in pairs {
            let sink = p.sink
            try await p.session.loop.submit { sink.setWindow(end: stop) }.get()
        }
        for (index, s) in plan.senders.enumerated() {
            let p = pairs[s.session]
            let sink = p.sink
            var first = start
            if case .rate(let perSecond, _) = mode {
                first = SendMode.staggeredStart(start, sender: index, of: plan.senders.count, perSecond: perSecond)
            }
            p.session.loop.execute { [first] in sink.startSending(mode: mode, start: first, stop: stop) }
        }
        // Sleep through the measured window, reporting progress each second.
        var lastAcked = 0
        var lastPerSender = [Int](repeating: 0, count: plan.senders.count)
        while monotonicNanos() < stop {
            let left = Double(stop - monotonicNanos()) / 1e9
            try await Task.sleep(nanoseconds: UInt64(min(1.0, max(0.01, left)) * 1e9))
            if env.verbose {
                let s = try await board.merged()
                // A sender with no ack for a whole second is stuck somewhere.
                var stalled: [Int] = []
                for (j, sender) in plan.senders.enumerated() {
                    let sink = pairs[sender.session].sink
                    let n = try await pairs[sender.session].session.loop.submit { sink.ownAcked.count }.get()
                    if n == lastPerSender[j] { stalled.append(j) }
                    lastPerSender[j] = n
                }
                env.progress("acked \(s.acked) (+\(s.acked - lastAcked)), delivered \(s.delivered)"
                    + (stalled.isEmpty ? "" : ", senders with no ack this second: \(stalled.prefix(20).map(String.init).joined(separator: " "))"))
                lastAcked = s.acked
            }
        }
        let cpuServer = cpuServerBefore.flatMap { before in env.serverCPUSeconds().map { $0 - before } }
        let cpuClient = clientCPUSeconds() - cpuClientBefore

        // Bounded wait for the acks still in flight, then for deliveries.
        let senderPairs = plan.senders.map { pairs[$0.session] }
        let drainDeadline = monotonicNanos() + UInt64(options.drainSeconds * 1e9)
        var drained = false
        while monotonicNanos() < drainDeadline {
            var outstanding = 0
            for p in senderPairs {
                let sink = p.sink
                outstanding += try await p.session.loop.submit { sink.outstanding }.get()
            }
            if outstanding <= 0 { drained = true; break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        var expected = 0
        while true {
            var ackedPerConversation = [Int](repeating: 0, count: plan.conversations.count)
            for s in plan.senders {
                let sink = pairs[s.session].sink
                ackedPerConversation[s.conversation] += try await pairs[s.session].session.loop.submit { sink.ownAcked.count }.get()
            }
            expected = zip(ackedPerConversation, plan.members).reduce(0) { $0 + $1.0 * ($1.1.count - 1) }
            let delivered = try await board.merged().delivered
            if delivered >= expected || monotonicNanos() >= drainDeadline { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }

        // Exact accounting: each session must hold every acked seq of each
        // of its conversations, except its own messages.
        var seen: [[Int: SeqSet]] = []
        var own: [SeqSet] = []
        for p in pairs {
            let sink = p.sink
            let (s, o) = try await p.session.loop.submit { (sink.seen, sink.ownAcked) }.get()
            seen.append(s)
            own.append(o)
        }
        var ackedAll = [SeqSet](repeating: SeqSet(), count: plan.conversations.count)
        for s in plan.senders { ackedAll[s.conversation].formUnion(own[s.session]) }
        var lost = 0, unacked = 0
        for (c, members) in plan.members.enumerated() {
            for m in members {
                let got = seen[m][c] ?? SeqSet()
                lost += got.missing(from: ackedAll[c], excluding: own[m])
                unacked += ackedAll[c].missing(from: got)
            }
        }
        let stats = try await board.merged()

        // Close politely; bounded by the close handshake timeout.
        for p in pairs { p.session.loop.execute { p.session.close(abrupt: false) } }
        try await Task.sleep(nanoseconds: 200_000_000)

        return MessagingOutcome(stats: stats, duration: options.duration, expected: expected, lost: lost,
                                unackedDelivered: unacked, sessions: pairs.count, openSeconds: openSeconds,
                                drainedCleanly: drained, serverCPUSeconds: cpuServer, clientCPUSeconds: cpuClient)
    }

    /// Adds the common lines of a messaging outcome to a report.
    public static func describe(_ o: MessagingOutcome, into report: inout Report, deliveries: Bool) {
        let s = o.stats
        report.add("sessions", o.sessions)
        report.add("sent", s.sent, "messages")
        report.add("acked", s.acked, "messages")
        report.add("acks/s", Double(s.ackedInWindow) / o.duration, "msg/s")
        if deliveries {
            report.add("delivered", s.delivered, "deliveries")
            report.add("deliveries/s", Double(s.deliveredInWindow) / o.duration, "deliveries/s")
            report.add("expected", o.expected, "deliveries")
            report.add("lost", o.lost)
            report.add("duplicated", s.duplicates)
            report.add("out of order", s.outOfOrder)
            report.latency("send→delivery", s.delivery)
            if s.deliveryOtherNode.totalCount > 0 || s.deliverySameNode.totalCount > 0 {
                report.latency("send→delivery, same node", s.deliverySameNode)
                report.latency("send→delivery, other node", s.deliveryOtherNode)
            }
        }
        report.latency("send→ack", s.ack)
        if let cpu = o.serverCPUSeconds {
            report.add("server CPU", cpu / o.duration * 100, "% of one core")
            if s.ackedInWindow > 0 { report.add("server CPU per ack", cpu * 1e6 / Double(s.ackedInWindow), "µs") }
            if deliveries, s.deliveredInWindow > 0 {
                report.add("server CPU per 1,000 deliveries", cpu * 1e6 / Double(s.deliveredInWindow), "ms")
            }
        }
        report.add("bench CPU", o.clientCPUSeconds / o.duration * 100, "% of one core")
        report.errors = s.errors
        if s.ackedDuplicate > 0 { report.add("acks with duplicate:true", s.ackedDuplicate) }
        if !o.drainedCleanly { report.notes.append("some sends were still unacknowledged when the drain wait ended") }
        if o.lost > 0 || s.duplicates > 0 || s.outOfOrder > 0 || !o.drainedCleanly || s.errors.values.reduce(0, +) > 0 {
            report.ok = false
        }
    }
}

struct SessionAndSink: Sendable {
    let session: WebSocketSession
    let sink: MessagingSink
}

/// User plus system CPU seconds of this process.
func clientCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// User plus system CPU seconds of another process, from /proc/PID/stat.
func processCPUSeconds(pid: Int32) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    // Fields after "(comm)": state is field 3; utime and stime are 14 and 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
    return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
