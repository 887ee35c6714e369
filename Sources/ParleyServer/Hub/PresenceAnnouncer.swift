import Logging
import ParleyCore
import ParleyStore

/// Tells a user's contacts when the user comes online (first session opens)
/// and goes offline (last session closes, however it closes), and records
/// when they were last seen.
///
/// The hub decides when an announcement is due and lets one announcer run
/// per user at a time; the announcer works until contacts know the user's
/// real state, so a burst of opens and closes ends with the right answer.
struct PresenceAnnouncer: Sendable {
    let hub: Hub
    let store: any ChatStore
    let now: @Sendable () -> Millis
    let logger: Logger

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

    private func start(_ account: Account) {
        Task { await announce(account) }
    }

    private func announce(_ account: Account) async {
        var announced: Bool?
        while let online = hub.nextAnnouncement(for: account.key, announced: announced) {
            var lastSeen: Millis?
            do {
                if !online {
                    let ts = now()
                    lastSeen = ts
                    try await store.recordLastSeen(account.key, at: ts)
                }
                let contacts = try await store.contacts(of: account.key)
                store.broker.publish(.presenceChanged(user: account.user, online: online, lastSeenTS: lastSeen, viewers: contacts))
            } catch {
                // The store is closing or failing: contacts miss this one,
                // and the loop still settles.
                logger.warning("cannot announce presence", metadata: ["error": "\(error)"])
            }
            announced = online
        }
    }
}
