import ParleyCore

/// A node's receiving end of the broker: delivers an event to the node's
/// own sessions (centrifuge's `BrokerEventHandler`). Must not block.
public protocol EventHandler: Sendable {
    func handle(_ event: ChatEvent)
}
