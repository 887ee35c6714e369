import Dispatch
import ParleyCore

/// What a write job reports once its batch has committed.
struct CommitReport: Sendable {
    /// The row key of the conversation whose order the report keeps; nil for
    /// a write no session hears of, answered at once.
    let conversation: Int64?
    /// Tells the caller: an append's completion, an awaiting call's resumption.
    let answer: @Sendable () -> Void
    /// Then what sessions hear: `preceding` (rare: a change of standing a
    /// message brought about), then `event`.
    let preceding: [ChatEvent]
    let event: ChatEvent?

    init(
        conversation: Int64? = nil, preceding: [ChatEvent] = [], event: ChatEvent? = nil, answer: @escaping @Sendable () -> Void
    ) {
        self.conversation = conversation
        self.answer = answer
        self.preceding = preceding
        self.event = event
    }
}

extension CommitReport {
    /// Writes what sessions are to hear of this report into the event
    /// log, in order, for the other nodes.
    func collectEvents(into events: inout [ChatEvent]) {
        events.append(contentsOf: preceding)
        if let event { events.append(event) }
    }
}
