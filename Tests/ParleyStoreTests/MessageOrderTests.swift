import ParleyCore
import Testing

@testable import ParleyStore

/// Messages that reach a node by two roads (its own commits, the other
/// nodes' through the database) are handed on in seq order.
@Suite("Events between nodes: messages in seq order")
struct MessageOrderTests {
    private static let ann = User(id: "u_ann", handle: "ann", displayName: "Ann")

    private func message(_ conversation: String, _ seq: Int64) -> ChatEvent {
        .messageStored(
            Message(id: "m\(seq)", conversationID: conversation, seq: seq, sender: Self.ann, text: "\(seq)", ts: seq, clientID: "c\(seq)"),
            sender: UserKey(1), recipients: [UserKey(1)], blockedBy: [], origin: nil)
    }

    private func seqs(_ events: [ChatEvent]) -> [Int64] {
        events.map {
            guard case .messageStored(let message, _, _, _, _) = $0 else { return -1 }
            return message.seq
        }
    }

    @Test("in order, each is handed on at once; one that comes early waits for those before it, then all go in order")
    func holdsUntilTheGapFills() {
        var order = MessageOrder()
        #expect(seqs(order.arrived(message("c", 5), now: 0)) == [5])
        #expect(seqs(order.arrived(message("c", 6), now: 1)) == [6])
        #expect(seqs(order.arrived(message("c", 9), now: 2)) == [])
        #expect(seqs(order.arrived(message("c", 8), now: 3)) == [])
        #expect(seqs(order.arrived(message("c", 7), now: 4)) == [7, 8, 9])
        #expect(seqs(order.arrived(message("c", 10), now: 5)) == [10])
    }

    @Test("a message handed on already (it came by both roads) is not handed on again")
    func duplicates() {
        var order = MessageOrder()
        #expect(seqs(order.arrived(message("c", 1), now: 0)) == [1])
        #expect(seqs(order.arrived(message("c", 1), now: 0)) == [])
        #expect(seqs(order.arrived(message("c", 3), now: 0)) == [])
        #expect(seqs(order.arrived(message("c", 3), now: 0)) == [])
        #expect(seqs(order.arrived(message("c", 2), now: 0)) == [2, 3])
    }

    @Test("conversations are ordered apart: a gap in one holds nothing of another; other events pass straight through")
    func independent() {
        var order = MessageOrder()
        _ = order.arrived(message("a", 1), now: 0)
        _ = order.arrived(message("b", 1), now: 0)
        #expect(seqs(order.arrived(message("a", 3), now: 0)) == [])
        #expect(seqs(order.arrived(message("b", 2), now: 0)) == [2])
        let typing = ChatEvent.typing(conversationID: "a", typer: Self.ann, recipients: [UserKey(2)])
        #expect(order.arrived(typing, now: 0) == [typing])
    }

    @Test("what waits past its patience for a message that has not come is handed on in order; the one given up is handed on late, once, if it comes; idle conversations are forgotten")
    func overdue() {
        var order = MessageOrder()
        _ = order.arrived(message("c", 1), now: 0)
        _ = order.arrived(message("c", 4), now: 100)
        _ = order.arrived(message("c", 3), now: 200)
        #expect(order.overdue(now: 1_000, patience: 5_000, forgetAfter: 60_000).isEmpty)
        #expect(seqs(order.overdue(now: 5_100, patience: 5_000, forgetAfter: 60_000)) == [3, 4])
        #expect(seqs(order.arrived(message("c", 5), now: 5_200)) == [5])
        #expect(seqs(order.arrived(message("c", 2), now: 5_300)) == [2], "late, not lost")
        #expect(seqs(order.arrived(message("c", 2), now: 5_400)) == [], "and only once")
        #expect(seqs(order.arrived(message("c", 4), now: 5_500)) == [], "one handed on already stays a duplicate")
        #expect(!order.isEmpty)
        #expect(order.overdue(now: 70_000, patience: 5_000, forgetAfter: 60_000).isEmpty)
        #expect(order.isEmpty)
    }
}
