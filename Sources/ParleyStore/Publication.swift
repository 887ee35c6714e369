import ParleyCore

/// An event a write publishes, with the conversation whose order it keeps.
struct Publication: Sendable {
    let conversation: Int64
    let event: ChatEvent
}

extension MembershipChange {
    /// The change, and its event, to be published in the conversation's order.
    func published(in key: Int64) -> (MembershipChange, Publication?) {
        (self, Publication(conversation: key, event: .membershipChanged(self)))
    }
}
