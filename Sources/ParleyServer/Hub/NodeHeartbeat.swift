import Logging
import ParleyCore
import ParleyStore
import ServiceLifecycle
import Synchronization

/// Keeps this node alive in the others' eyes and gives up those that died:
/// every `PresenceRule.heartbeat` it beats, then announces offline the
/// users of nodes silent for `PresenceRule.silenceLimit`.
///
/// A node gives others up only once it has itself beaten without a break
/// for `silenceLimit`: after PostgreSQL comes back, every node's last beat
/// is old, and the first one back must not give up the others before they
/// had a chance to beat again. A node that finds it was given up (it was
/// cut off, not dead) records its users again.
struct NodeHeartbeat: Service {
    let store: any ChatStore
    let hub: Hub
    let presence: PresenceAnnouncer
    let logger: Logger

    func run() async throws {
        var beatingSince: ContinuousClock.Instant?
        // Giving others up runs beside the beats (it may take many
        // transactions), so that it never delays this node's own beat.
        let sweeping = Sweeping()
        let interval = Duration.milliseconds(PresenceRule.heartbeat)
        let settle = Duration.milliseconds(PresenceRule.silenceLimit)
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                if try await !store.heartbeat() {
                    let users = hub.forgetRecorded()
                    if !users.isEmpty { logger.warning("the other nodes had given this one up: recording \(users.count) users' presence again") }
                    for account in users { presence.start(account) }
                }
                let since = beatingSince ?? .now
                beatingSince = since
                if ContinuousClock.now - since >= settle, sweeping.begin() {
                    let store = self.store
                    Task {
                        _ = try? await store.expireSilentNodes()
                        sweeping.end()
                    }
                }
            } catch {
                // Again soon: the others give this node up after 10 s of silence.
                beatingSince = nil
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(250)) }
                continue
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

/// At most one sweep at a time.
private final class Sweeping: Sendable {
    private let running = Atomic(false)
    func begin() -> Bool { running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
    func end() { running.store(false, ordering: .releasing) }
}
