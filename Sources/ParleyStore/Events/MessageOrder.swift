import ParleyCore

/// Puts each conversation's messages back in seq order before this node's
/// sessions hear of them, when they reach the node by different roads: its
/// own commits, and other nodes' through the database. Seqs are gapless and
/// a conversation's row lock makes them commit order, so when seq 7 is
/// here, 6 has committed too and is on its way: 7 waits for it. Other
/// events pass straight through.
///
/// A value with no lock and no clock: the broker owns one per shard of
/// conversations and says what time it is.
struct MessageOrder {
    private struct Conversation {
        /// The last seq handed on.
        var delivered: Int64
        /// Seqs below `delivered` that were given up (`overdue`): if one
        /// comes after all, it is handed on late rather than lost.
        var givenUp: Set<Int64> = []
        /// Messages that came before their turn, by seq.
        var held: [Int64: ChatEvent] = [:]
        var heldSince: Millis?
        var touched: Millis
    }

    private var conversations: [String: Conversation] = [:]

    /// What to hand on now that `event` is here, in order (often just it;
    /// nothing if it is held, or a message handed on already).
    mutating func arrived(_ event: ChatEvent, now: Millis) -> [ChatEvent] {
        guard case .messageStored(let message, _, _, _, _) = event else { return [event] }
        guard var conversation = conversations[message.conversationID] else {
            // The first this node sees of it: nothing to order it after.
            conversations[message.conversationID] = Conversation(delivered: message.seq, touched: now)
            return [event]
        }
        conversation.touched = now
        defer { conversations[message.conversationID] = conversation }
        if message.seq <= conversation.delivered {
            return conversation.givenUp.remove(message.seq) != nil ? [event] : []
        }
        if message.seq > conversation.delivered + 1 {
            conversation.held[message.seq] = event
            conversation.heldSince = conversation.heldSince ?? now
            return []
        }
        var ready = [event]
        conversation.delivered = message.seq
        while let next = conversation.held.removeValue(forKey: conversation.delivered + 1) {
            ready.append(next)
            conversation.delivered += 1
        }
        if conversation.held.isEmpty { conversation.heldSince = nil }
        return ready
    }

    /// Messages held longer than `patience` for one that has not come (a
    /// reader held back by a long transaction elsewhere, or away): handed on
    /// in order, and the missing seqs noted, so that they are handed on
    /// late when they come rather than lost. Conversations idle for
    /// `forgetAfter` are forgotten.
    mutating func overdue(now: Millis, patience: Millis, forgetAfter: Millis) -> [ChatEvent] {
        var ready: [ChatEvent] = []
        for (id, var conversation) in conversations {
            if let since = conversation.heldSince, now - since >= patience {
                for seq in conversation.held.keys.sorted() {
                    ready.append(conversation.held[seq]!)
                    if seq > conversation.delivered + 1, conversation.givenUp.count < Self.givenUpLimit {
                        conversation.givenUp.formUnion((conversation.delivered + 1)..<seq)
                    }
                    conversation.delivered = seq
                }
                conversation.held = [:]
                conversation.heldSince = nil
                conversations[id] = conversation
            } else if conversation.held.isEmpty, now - conversation.touched >= forgetAfter {
                conversations[id] = nil
            }
        }
        return ready
    }

    var isEmpty: Bool { conversations.isEmpty }

    /// Seqs noted as given up per conversation, at most.
    static let givenUpLimit = 10_000
}
