import Synchronization
import Testing

/// A PostgreSQL outage a test brings about (restarts) while senders send.
final class Outage: Sendable {
    private let state = Mutex((restarts: 0, finished: false))
    var restarts: Int { state.withLock { $0.restarts } }
    var finished: Bool { state.withLock { $0.finished } }
    func restarted() { state.withLock { $0.restarts += 1 } }
    func finish() { state.withLock { $0.finished = true } }
}

/// A message's acknowledgement: its seq and id.
struct Ack: Sendable, Equatable {
    let seq: Int
    let id: String
}

/// What one sender saw during an outage.
struct SentDuringOutage: Sendable {
    var acked: [String: Ack] = [:]
    /// Refused with `unavailable`, to be retried by client_id.
    var failed: [String] = []
    /// Acknowledged once the outage had had all its restarts.
    var ackedAfterLastRestart = 0
}

extension TestSocket {
    /// Sends `<prefix>-0`, `<prefix>-1` … (text and client_id alike), each
    /// once its answer came, until `outage` is over. An answer that is not
    /// an ack must be `unavailable`; after one the sender waits
    /// `pauseAfterRefusal`, as a client would.
    func sendUntilOver(
        _ outage: Outage, lastRestart: Int, conversation: String, prefix: String, pauseAfterRefusal: Duration = .zero
    ) async throws -> SentDuringOutage {
        var sent = SentDuringOutage()
        var n = 0
        while !outage.finished {
            let clientID = "\(prefix)-\(n)"
            n += 1
            try await send(["type": "send", "id": clientID, "conversation_id": conversation, "text": clientID, "client_id": clientID])
            while true {
                let frame = try await next(timeout: .seconds(30))
                guard frame["re"].string == clientID else { continue }
                if frame["type"].string == "ack" {
                    sent.acked[clientID] = Ack(seq: frame["seq"].int ?? -1, id: frame["message_id"].string ?? "")
                    if outage.restarts == lastRestart { sent.ackedAfterLastRestart += 1 }
                } else {
                    #expect(frame["code"].string == "unavailable", "a send during the outage: \(frame)")
                    sent.failed.append(clientID)
                    if pauseAfterRefusal > .zero { try await Task.sleep(for: pauseAfterRefusal) }
                }
                break
            }
        }
        return sent
    }
}

extension Outage {
    /// A second of traffic, PostgreSQL restarted `-m fast`, two seconds,
    /// `-m immediate` (crash recovery), then `settle` for the servers to
    /// reconnect and store more before it is over.
    func restart(_ postgres: ThrowawayPostgres, settle: Duration) async throws {
        try await Task.sleep(for: .seconds(1))
        try postgres.restart(mode: "fast")
        restarted()
        try await Task.sleep(for: .seconds(2))
        try postgres.restart(mode: "immediate")
        restarted()
        try await Task.sleep(for: settle)
        finish()
    }

    /// The restarts `restart` makes.
    static let restartCount = 2
}
