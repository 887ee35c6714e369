import ParleyCore
import Synchronization

/// The broker of a single process: publishing is delivering, on the
/// publisher's thread, to this node's handler. Events published before a
/// handler subscribed reach nobody (no session can exist yet).
public final class LocalBroker: EventBroker {
    private final class Subscriber: Sendable {
        let handler: any EventHandler
        init(_ handler: any EventHandler) { self.handler = handler }
    }

    /// Set once; read on every event without a lock.
    private let subscriber = Atomic<Unmanaged<Subscriber>?>(nil)

    public init() {}

    public func subscribe(_ handler: any EventHandler) {
        let new = Unmanaged.passRetained(Subscriber(handler))
        guard subscriber.compareExchange(expected: nil, desired: new, ordering: .acquiringAndReleasing).exchanged else {
            new.release()
            preconditionFailure("LocalBroker has a handler already")
        }
    }

    public func publish(_ event: ChatEvent) {
        subscriber.load(ordering: .acquiring)?.takeUnretainedValue().handler.handle(event)
    }

    deinit {
        subscriber.load(ordering: .acquiring)?.release()
    }
}
