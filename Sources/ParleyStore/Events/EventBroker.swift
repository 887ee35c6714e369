import ParleyCore

/// The seam between what happened and who is connected where: the store and
/// the chat service publish `ChatEvent`s to the broker, and the broker hands
/// each node the events its own sessions must hear of (centrifuge's `Broker`).
///
/// A broker keeps the order in which one publisher publishes the events of
/// one conversation; it promises nothing across conversations.
/// `LocalBroker` is the one-process implementation; `PostgresBroker` carries
/// events between the nodes sharing a PostgreSQL database.
public protocol EventBroker: Sendable {
    func publish(_ event: ChatEvent)
    /// An event its commit already carried to the other nodes (written in
    /// the same transaction, as the PostgreSQL store does): only this
    /// node's sessions are left to hear of it.
    func publishCommitted(_ event: ChatEvent)
    /// Starts handing events to this node's `handler`; called once, before
    /// the node accepts sessions.
    func subscribe(_ handler: any EventHandler)
}

extension EventBroker {
    /// A broker with no other nodes publishes it like any other.
    public func publishCommitted(_ event: ChatEvent) { publish(event) }
}
