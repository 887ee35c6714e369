import Dispatch
import ParleyCore

/// What a write job reports once its batch has committed.
struct CommitReport: Sendable {
    /// The row key of the conversation whose order the report keeps; nil for
    /// a write no session hears of, answered at once.
    let conversation: Int64?
    /// Tells the caller: an append's completion, an awaiting call's resumption.
    let answer: @Sendable () -> Void
    /// Then what sessions hear.
    let event: ChatEvent?

    init(conversation: Int64? = nil, event: ChatEvent? = nil, answer: @escaping @Sendable () -> Void) {
        self.conversation = conversation
        self.answer = answer
        self.event = event
    }
}
