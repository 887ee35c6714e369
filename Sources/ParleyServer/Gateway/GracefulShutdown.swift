import Logging
import ServiceLifecycle
import Synchronization

/// The server's graceful shutdown: on SIGTERM or SIGINT, before the HTTP
/// server stops, every session is drained: told (`notice {code:"draining"}`),
/// no longer answered, given the acks of the sends already committing, and
/// closed with 1001. Meanwhile new sockets are closed at once and HTTP
/// answers 503.
final class GracefulShutdown: Sendable {
    private let underWay = Atomic(false)
    private let hub: Hub
    private let deadline: Duration
    private let logger: Logger

    init(hub: Hub, deadline: Duration, logger: Logger) {
        self.hub = hub
        self.deadline = deadline
        self.logger = logger
    }

    var isUnderWay: Bool { underWay.load(ordering: .acquiring) }

    /// Drains every session, and waits until they are closed or the deadline passes.
    func drainSessions() async {
        underWay.store(true, ordering: .releasing)
        let sessions = hub.allSessions()
        logger.info("draining", metadata: ["sessions": "\(sessions.count)"])
        for session in sessions { session.drain() }
        let start = ContinuousClock.now
        while hub.sessionCount > 0, ContinuousClock.now - start < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Drains the sessions when graceful shutdown begins. Listed after the
    /// application in one service group, so it is shut down first and the
    /// server waits until it is done.
    struct Service: ServiceLifecycle.Service {
        let shutdown: GracefulShutdown

        func run() async throws {
            try? await gracefulShutdown()
            await shutdown.drainSessions()
        }
    }
}
