import Synchronization

/// A broker's one subscriber: set once, then read on every event without a
/// lock.
final class HandlerSlot: Sendable {
    private final class Subscriber: Sendable {
        let handler: any EventHandler
        init(_ handler: any EventHandler) { self.handler = handler }
    }

    private let subscriber = Atomic<Unmanaged<Subscriber>?>(nil)

    init() {}

    /// Sets the handler; a second call is a programming error.
    func set(_ handler: any EventHandler, broker: String) {
        let new = Unmanaged.passRetained(Subscriber(handler))
        guard subscriber.compareExchange(expected: nil, desired: new, ordering: .acquiringAndReleasing).exchanged else {
            new.release()
            preconditionFailure("\(broker) has a handler already")
        }
    }

    /// The handler, or nil before one subscribed (no session can exist yet).
    var handler: (any EventHandler)? {
        subscriber.load(ordering: .acquiring)?.takeUnretainedValue().handler
    }

    deinit {
        subscriber.load(ordering: .acquiring)?.release()
    }
}
