import ParleyCore

/// The broker of a single process: publishing is delivering, on the
/// publisher's thread, to this node's handler. Events published before a
/// handler subscribed reach nobody (no session can exist yet).
public final class LocalBroker: EventBroker {
    private let slot = HandlerSlot()

    public init() {}

    public func subscribe(_ handler: any EventHandler) {
        slot.set(handler, broker: "LocalBroker")
    }

    public func publish(_ event: ChatEvent) {
        slot.handler?.handle(event)
    }
}
