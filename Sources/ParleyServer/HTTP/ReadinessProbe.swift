import ParleyCore
import ParleyStore
import Synchronization

/// Whether this node should take traffic: not while it drains, nor while
/// its database does not answer. The database is asked at most once a
/// second however often the load balancer probes; probes in between get
/// the last answer.
final class ReadinessProbe: Sendable {
    private let store: any ChatStore
    private let shutdown: GracefulShutdown
    private let now: @Sendable () -> Millis
    private let asked = Mutex<(at: Millis, reachable: Bool)?>(nil)
    static let reuseFor: Millis = 1000

    init(store: any ChatStore, shutdown: GracefulShutdown, now: @escaping @Sendable () -> Millis) {
        self.store = store
        self.shutdown = shutdown
        self.now = now
    }

    func isReady() async -> Bool {
        guard !shutdown.isUnderWay else { return false }
        let now = self.now()
        if let last = asked.withLock({ $0 }), now - last.at < Self.reuseFor { return last.reachable }
        let reachable = await store.isReachable()
        asked.withLock { $0 = (now, reachable) }
        return reachable && !shutdown.isUnderWay
    }
}
