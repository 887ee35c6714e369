import Foundation
import Logging
import ParleyCore
import ParleyStore
import Synchronization
import Testing

@testable import ParleyServer

/// `/healthz` and `/readyz`: what a load balancer asks each node.
@Suite("Health for load balancers")
struct HealthTests {
    @Test("/healthz and /readyz answer 200 {\"status\":\"ok\"} without a token, are never cached, and take only GET and HEAD")
    func bothAnswer() async throws {
        try await Harness.live { h in
            // Ready once its database answers within 2 s: on a loaded machine
            // (PostgreSQL making the other suites' databases) not always at
            // once. Asked with `request`: a 503 here is not a failure, and
            // `call` would count its body as a malformed error.
            let deadline = ContinuousClock.now + .seconds(30)
            while try await h.request(.get, "/readyz").status != .ok, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
            for path in ["/healthz", "/readyz"] {
                let reply = try await h.call(.get, path)
                #expect(reply.status == .ok, "\(path): \(reply.status)")
                #expect(reply.raw == #"{"status":"ok"}"#, "\(path): \(reply.raw)")
                #expect(reply.headers[.cacheControl] == "no-store")
                let head = try await h.request(.head, path)
                #expect(head.status == .ok, "HEAD \(path): \(head.status)")
                let post = try await h.call(.post, path, json: [:])
                #expect(post.status == .notFound, "POST \(path): \(post.status)")
            }
        }
    }

    @Test("once the node drains it is not ready, whatever its database says")
    func drainingIsNotReady() async throws {
        let database = try await TestDatabase(.sqlite)
        let store = try await DatabaseLocation(database.configuration.databasePath).open(limits: ChatLimits(), logger: Logger(label: "test"))
        let hub = Hub()
        let shutdown = GracefulShutdown(hub: hub, deadline: .seconds(1), logger: Logger(label: "test"))
        let probe = ReadinessProbe(store: store, shutdown: shutdown, now: SystemClock.millis)
        #expect(await probe.isReady())
        await shutdown.drainSessions()
        #expect(await probe.isReady() == false, "a draining node is not ready, whatever the database says")
        try await store.close()
    }

    @Test("a store that cannot answer makes the node not ready; asked again after a second, not before")
    func unreachableStore() async throws {
        let database = try await TestDatabase(.sqlite)
        let store = try await DatabaseLocation(database.configuration.databasePath).open(limits: ChatLimits(), logger: Logger(label: "test"))
        let clock = ManualClock()
        let probe = ReadinessProbe(
            store: store, shutdown: GracefulShutdown(hub: Hub(), deadline: .seconds(1), logger: Logger(label: "test")), now: clock.now)
        #expect(await probe.isReady())
        try await store.close()
        #expect(await probe.isReady(), "within a second the last answer stands")
        clock.advance(by: ReadinessProbe.reuseFor)
        #expect(await probe.isReady() == false, "a closed database does not answer")
    }
}

/// A clock the test moves by hand.
private final class ManualClock: Sendable {
    private let current = Mutex<Millis>(1_000_000)
    var now: @Sendable () -> Millis { { [self] in current.withLock { $0 } } }
    func advance(by ms: Millis) { current.withLock { $0 += ms } }
}
