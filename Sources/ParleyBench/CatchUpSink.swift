// The per-user logic of `reconnect`: hold the seqs received (live or from
// history), and after a reconnect catch up exactly as docs/PROTOCOL.md §4.8
// tells clients to: for each conversation of `ready` whose last_seq is
// ahead of the highest seq held with no gap below it, page through
// `history after=…` (limit 200) while has_more. Runs on one event loop for
// the user's whole life, across reconnects.

import Foundation
import NIOCore

public final class CatchUpSink: SessionSink, @unchecked Sendable {
    let stats: LoopStats
    let conversations: ConversationIndex
    public let loop: any EventLoop
    /// Seqs held per conversation, and which of them came live / by history.
    public private(set) var held: [Int: SeqSet] = [:]
    private var live: [Int: SeqSet] = [:]
    private var fromHistory: [Int: SeqSet] = [:]
    /// Seqs that came live twice: a server bug (history/live overlap is not).
    public private(set) var liveDuplicates = 0
    public private(set) var overlap = 0
    public private(set) var historyPages = 0
    /// Catch-up after the reconnect that started at `since`.
    private var since: UInt64 = 0
    private var targets: [Int: Int] = [:]
    public private(set) var caughtUpAfter: UInt64?
    private var requestCounter = 0

    public init(stats: LoopStats, conversations: ConversationIndex, loop: any EventLoop) {
        self.stats = stats
        self.conversations = conversations
        self.loop = loop
    }

    /// Arms the catch-up clock before reconnecting.
    public func beginReconnect(at start: UInt64) {
        since = start
        caughtUpAfter = nil
        targets = [:]
    }

    public func sessionReady(_ session: WebSocketSession, ready: ReadyFrame) {
        guard since > 0 else { return }
        for c in ready.conversations {
            guard let conv = conversations.ids.firstIndex(of: c.id) else { continue }
            targets[conv] = c.last_seq
            let local = held[conv]?.contiguousPrefix ?? 0
            if c.last_seq > local { requestHistory(session, conversation: c.id, after: local) }
        }
        checkCaughtUp()
    }

    public func sessionClosed(_ session: WebSocketSession) {}

    private func requestHistory(_ session: WebSocketSession, conversation: String, after: Int) {
        requestCounter += 1
        historyPages += 1
        session.sendText(#"{"type":"history","id":"h\#(requestCounter)","conversation_id":"\#(conversation)","after":\#(after),"limit":200}"#)
    }

    private struct HistoryReply: Decodable {
        struct Message: Decodable { var seq: Int }
        var conversation_id: String
        var messages: [Message]
        var has_more: Bool
    }

    public func session(_ session: WebSocketSession, received type: FrameType, bytes: UnsafeRawBufferPointer) {
        switch type {
        case .message:
            guard let m = ScannedMessage.scan(bytes),
                  let conv = conversations.index(of: UnsafeRawBufferPointer(rebasing: bytes[m.conversationID]))
            else { stats.foreign += 1; return }
            if !live[conv, default: SeqSet()].insert(m.seq) { liveDuplicates += 1; stats.duplicates += 1; return }
            if fromHistory[conv]?.contains(m.seq) == true { overlap += 1 }
            if held[conv, default: SeqSet()].insert(m.seq) {
                stats.delivered += 1
                if let stamp = m.stamp { stats.delivery.record(LatencyStamp.elapsed(from: stamp, to: monotonicNanos()) / 1000) }
            }
            checkCaughtUp()
        case .history:
            guard let reply = try? JSONDecoder().decode(HistoryReply.self, from: Data(bytes)),
                  let conv = conversations.ids.firstIndex(of: reply.conversation_id)
            else { stats.errors["unreadable_history", default: 0] += 1; return }
            var top = 0
            for m in reply.messages {
                top = max(top, m.seq)
                fromHistory[conv, default: SeqSet()].insert(m.seq)
                if live[conv]?.contains(m.seq) == true { overlap += 1 }
                if held[conv, default: SeqSet()].insert(m.seq) { stats.delivered += 1 }
            }
            // Page on while has_more, but only up to ready's last_seq: what
            // came after it is arriving live.
            let prefix = held[conv]?.contiguousPrefix ?? 0
            if reply.has_more, top > 0, prefix < (targets[conv] ?? Int.max) {
                requestHistory(session, conversation: reply.conversation_id, after: max(top, prefix))
            }
            checkCaughtUp()
        case .error:
            let code = FrameScanner.stringValue("code", in: bytes).map { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0]), as: UTF8.self) } ?? "?"
            stats.errors[code, default: 0] += 1
        default:
            break
        }
    }

    private func checkCaughtUp() {
        guard since > 0, caughtUpAfter == nil, !targets.isEmpty else { return }
        for (conv, target) in targets where (held[conv]?.contiguousPrefix ?? 0) < target { return }
        let elapsed = monotonicNanos() - since
        caughtUpAfter = elapsed
        stats.catchUp.record(elapsed / 1000)
    }
}
