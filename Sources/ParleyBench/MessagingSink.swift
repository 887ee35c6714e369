// The per-session logic of the messaging scenarios (fanout, durable): it
// records every delivery (latency, lost/duplicate bookkeeping) and, for a
// sender, keeps its window of unacknowledged sends full or paces its sends to
// a fixed rate. Everything here runs on the session's event loop.

import NIOCore

/// Conversation ids of a run mapped to small integers; immutable once built.
public final class ConversationIndex: Sendable {
    public let ids: [String]
    let byID: [String: Int]

    public init(ids: [String]) {
        self.ids = ids
        var map: [String: Int] = [:]
        for (i, id) in ids.enumerated() { map[id] = i }
        self.byID = map
    }

    @inline(__always)
    func index(of bytes: UnsafeRawBufferPointer) -> Int? {
        byID[String(decoding: bytes, as: UTF8.self)]
    }
}

/// How senders pace themselves.
public enum SendMode: Sendable {
    /// As fast as acks come back, with at most `window` sends unacknowledged.
    case window(Int)
    /// A fixed number of messages per second for this sender; at most `cap`
    /// unacknowledged (the server stops reading a socket at 256).
    case rate(perSecond: Double, cap: Int)

    /// Rate mode: when sender `index` of `senders`, each sending `perSecond`,
    /// starts after `start`, so that together they send evenly rather than
    /// all in the same instant of each interval.
    public static func staggeredStart(_ start: UInt64, sender index: Int, of senders: Int, perSecond: Double) -> UInt64 {
        start + UInt64(Double(index) / Double(max(1, senders)) * 1e9 / perSecond)
    }
}

public final class MessagingSink: SessionSink, @unchecked Sendable {
    let stats: LoopStats
    let conversations: ConversationIndex
    /// Seqs delivered to this session, per conversation index.
    public private(set) var seen: [Int: SeqSet] = [:]

    // Sender state (unused for a pure receiver).
    let senderIndex: Int
    let sendConversation: Int?
    let padding: Int
    public private(set) var ownAcked = SeqSet()
    public private(set) var outstanding = 0
    private var clientCounter = 0
    private var mode: SendMode = .window(1)
    private var stopAt: UInt64 = 0
    private var windowEnd: UInt64 = 0
    private var nextIntended: UInt64 = 0
    private var interval: UInt64 = 0
    private var timerArmed = false
    private var remaining = Int.max
    private weak var session: WebSocketSession?
    /// The conversation id, as written into every send frame.
    private let convField: String
    /// With several nodes: the node of this session and, per conversation,
    /// the node of its one sender (-1: not one), to tell same-node from
    /// cross-node deliveries.
    let node: Int
    let senderNodes: [Int]

    public init(stats: LoopStats, conversations: ConversationIndex, senderIndex: Int = -1, sendConversation: Int? = nil, padding: Int = 0,
                node: Int = -1, senderNodes: [Int] = []) {
        self.stats = stats
        self.node = node
        self.senderNodes = senderNodes
        self.conversations = conversations
        self.senderIndex = senderIndex
        self.sendConversation = sendConversation
        self.padding = padding
        self.convField = sendConversation.map { conversations.ids[$0] } ?? ""
    }

    /// Ends of the run: sends stop at `stopAt`; rates count events up to `windowEnd`.
    public func setWindow(end: UInt64) { windowEnd = end }

    public func sessionReady(_ session: WebSocketSession, ready: ReadyFrame) {
        self.session = session
    }

    public func sessionClosed(_ session: WebSocketSession) {}

    public func session(_ session: WebSocketSession, received type: FrameType, bytes: UnsafeRawBufferPointer) {
        switch type {
        case .message:
            guard let m = ScannedMessage.scan(bytes) else { stats.errors["unreadable_message", default: 0] += 1; return }
            guard let conv = conversations.index(of: UnsafeRawBufferPointer(rebasing: bytes[m.conversationID])) else {
                stats.foreign += 1
                return
            }
            let before = seen[conv]?.maxSeq ?? 0
            if seen[conv, default: SeqSet()].insert(m.seq) {
                let now = monotonicNanos()
                stats.delivered += 1
                if now <= windowEnd { stats.deliveredInWindow += 1 }
                if m.seq < before { stats.outOfOrder += 1 }
                if let stamp = m.stamp {
                    let micros = LatencyStamp.elapsed(from: stamp, to: now) / 1000
                    stats.delivery.record(micros)
                    if node >= 0, conv < senderNodes.count, senderNodes[conv] >= 0 {
                        if senderNodes[conv] == node { stats.deliverySameNode.record(micros) } else { stats.deliveryOtherNode.record(micros) }
                    }
                }
            } else {
                stats.duplicates += 1
            }
        case .ack:
            guard let a = ScannedAck.scan(bytes) else { stats.errors["unreadable_ack", default: 0] += 1; return }
            let now = monotonicNanos()
            outstanding -= 1
            stats.acked += 1
            if now <= windowEnd { stats.ackedInWindow += 1 }
            if a.duplicate { stats.ackedDuplicate += 1 }
            ownAcked.insert(a.seq)
            if let stamp = a.stamp { stats.ack.record(LatencyStamp.elapsed(from: stamp, to: now) / 1000) }
            refill(session, now: now)
        case .error:
            let code = FrameScanner.stringValue("code", in: bytes).map { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0]), as: UTF8.self) } ?? "?"
            stats.errors[code, default: 0] += 1
            // An error that answers one of our sends frees its window slot.
            if let re = FrameScanner.stringValue("re", in: bytes), LatencyStamp.stamp(fromID: UnsafeRawBufferPointer(rebasing: bytes[re])) != nil {
                outstanding -= 1
                refill(session, now: monotonicNanos())
            }
        case .notice:
            stats.errors["notice", default: 0] += 1
        default:
            break  // presence, conversation, receipts: not measured
        }
    }

    /// Starts sending at `start` until `stop` (monotonic nanoseconds), or
    /// until `limit` messages were sent.
    public func startSending(mode: SendMode, start: UInt64, stop: UInt64, limit: Int = .max) {
        guard let session, sendConversation != nil else { return }
        self.mode = mode
        self.stopAt = stop
        self.remaining = limit
        switch mode {
        case .window(let w):
            let now = monotonicNanos()
            for _ in 0..<max(1, w) where remaining > 0 { send(session, stamp: now, flush: false) }
            session.flush()
        case .rate(let perSecond, _):
            interval = UInt64(max(1, 1e9 / perSecond))
            nextIntended = start
            arm(session)
        }
    }

    private func refill(_ session: WebSocketSession, now: UInt64) {
        guard sendConversation != nil, now < stopAt, remaining > 0 else { return }
        switch mode {
        case .window(let w):
            if outstanding < w { send(session, stamp: now, flush: true) }
        case .rate:
            if !timerArmed { paced(session) }
        }
    }

    /// Rate mode: sends every message whose intended time has come. The
    /// stamp is the intended time, not the moment of writing, so a sender
    /// held back by its cap or a busy loop shows up as latency instead of
    /// silently sending less (no coordinated omission).
    private func paced(_ session: WebSocketSession) {
        guard case .rate(_, let cap) = mode else { return }
        let now = monotonicNanos()
        var burst = 0
        while nextIntended <= now, nextIntended < stopAt, outstanding < cap, burst < cap, remaining > 0 {
            send(session, stamp: nextIntended, flush: false)
            nextIntended += interval
            burst += 1
        }
        if burst > 0 { session.flush() }
        if nextIntended < stopAt, outstanding < cap, remaining > 0 {
            arm(session)
        }
        // At the cap, the next ack calls paced() again.
    }

    private func arm(_ session: WebSocketSession) {
        timerArmed = true
        session.loop.scheduleTask(deadline: .uptimeNanoseconds(nextIntended)) { [self] in
            timerArmed = false
            paced(session)
        }
    }

    /// Stops sending now; sends in flight still get their acks.
    public func stopSending() { stopAt = 0 }

    private func send(_ session: WebSocketSession, stamp: UInt64, flush: Bool) {
        remaining -= 1
        clientCounter += 1
        outstanding += 1
        stats.sent += 1
        let text = LatencyStamp.text(stamp: stamp, padding: padding)
        session.sendText(
            #"{"type":"send","id":"\#(stamp)","conversation_id":"\#(convField)","text":"\#(text)","client_id":"\#(senderIndex).\#(clientCounter)"}"#,
            flush: flush)
    }

    public var isSender: Bool { sendConversation != nil }

    /// True once the sender will send nothing more (limit reached or stopped).
    public var isIdle: Bool { remaining <= 0 || monotonicNanos() >= stopAt }
}
