import Logging
import ParleyCore
import ParleyStore

/// Records when a user's first session on this node opens and their last
/// one closes, however it closes; the store tells their contacts when that
/// makes them online anywhere or offline everywhere (`recordPresence`).
///
/// The hub decides when a record is due and lets one announcer run per
/// user at a time; the announcer works until the store has this node's
/// real state, so a burst of opens and closes ends with the right answer.
/// A record PostgreSQL cannot take now is tried again (its presence would
/// otherwise stay wrong on every node) for up to `retryFor`.
struct PresenceAnnouncer: Sendable {
    let hub: Hub
    let store: any ChatStore
    let now: @Sendable () -> Millis
    let logger: Logger
    static let retryFor: Duration = .seconds(60)

    /// Registers the session; false if the user has too many open already.
    func sessionOpened(_ session: ClientSession, maxSessions: Int) -> Bool {
        switch hub.register(session, maxSessions: maxSessions) {
        case .registered(let announce):
            if announce { start(session.account) }
            return true
        case .tooManySessions:
            return false
        }
    }

    func sessionClosed(_ session: ClientSession) {
        if hub.unregister(session) { start(session.account) }
    }

    func start(_ account: Account) {
        Task { await announce(account) }
    }

    private func announce(_ account: Account) async {
        var recorded: Bool?
        var failingSince: ContinuousClock.Instant?
        while let online = hub.nextAnnouncement(for: account.key, announced: recorded) {
            do {
                try await store.recordPresence(account, online: online, at: now())
                recorded = online
                failingSince = nil
            } catch {
                let since = failingSince ?? .now
                failingSince = since
                guard ContinuousClock.now - since < Self.retryFor else {
                    logger.warning("cannot record presence, given up", metadata: ["error": "\(error)"])
                    recorded = online
                    continue
                }
                recorded = nil
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
