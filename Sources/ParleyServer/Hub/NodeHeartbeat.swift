import Logging
import ParleyCore
import ParleyStore
import ServiceLifecycle

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
                if ContinuousClock.now - since >= settle { _ = try await store.expireSilentNodes() }
            } catch {
                beatingSince = nil
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
