import Logging
import ServiceLifecycle
import Synchronization

/// Graceful drain: on SIGTERM or SIGINT, before the HTTP server stops, every
/// session is told (`notice {code:"draining"}`), stops taking new requests,
/// gets the acks of the sends already committing, and is closed with 1001.
/// Meanwhile new sockets are closed at once and HTTP answers 503.
final class Drain: Sendable {
    private let draining = Atomic(false)
    private let hub: Hub
    private let deadline: Duration
    private let logger: Logger

    init(hub: Hub, deadline: Duration, logger: Logger) {
        self.hub = hub
        self.deadline = deadline
        self.logger = logger
    }

    var isDraining: Bool { draining.load(ordering: .acquiring) }

    func drain() async {
        draining.store(true, ordering: .releasing)
        let sessions = hub.allSessions()
        logger.info("draining", metadata: ["sessions": "\(sessions.count)"])
        for session in sessions { session.drain() }
        let start = ContinuousClock.now
        while hub.sessionCount > 0, ContinuousClock.now - start < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Runs the drain when graceful shutdown begins. Listed after the
    /// application in one service group, so it is shut down first and the
    /// server waits until it is done.
    struct Service: ServiceLifecycle.Service {
        let drain: Drain

        func run() async throws {
            try? await gracefulShutdown()
            await drain.drain()
        }
    }
}
