import Logging
import ParleyCore
import ParleyStore

/// Records this node's sessions of a user in the store: when the first
/// opens and the last closes, however it closes, and, when the store
/// counts sessions for the limit across nodes, every change of their
/// number (the new ones wait until a record lets them in). The store tells
/// their contacts when that makes them online anywhere or offline
/// everywhere (`recordSessions`).
///
/// The hub decides when a record is due and lets one announcer run per
/// user at a time; the announcer works until the store has this node's
/// real state, so a burst of opens and closes ends with the right answer.
/// A record PostgreSQL cannot take now is tried again (its presence would
/// otherwise stay wrong on every node) for up to `retryFor`.
struct PresenceAnnouncer: Sendable {
    let hub: Hub
    let store: any ChatStore
    /// Sessions per user, on every node together.
    let maxSessions: Int
    let now: @Sendable () -> Millis
    let logger: Logger
    static let retryFor: Duration = .seconds(60)

    /// Registers the session; false if the user has too many open here
    /// already. Those the store counts across nodes then wait for their
    /// `Hub.admission`.
    func sessionOpened(_ session: ClientSession) -> Bool {
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
        var outcome: Hub.RecordOutcome?
        var failingSince: ContinuousClock.Instant?
        while let record = hub.nextRecord(for: account.key, after: outcome) {
            do {
                let granted = try await store.recordSessions(
                    account, count: record.count, admitted: record.admitted, limit: maxSessions, at: now())
                outcome = .recorded(granted: granted, asked: record.asked)
                failingSince = nil
            } catch {
                let since = failingSince ?? .now
                failingSince = since
                guard ContinuousClock.now - since < Self.retryFor else {
                    logger.warning("cannot record presence, given up", metadata: ["error": "\(error)"])
                    outcome = .givenUp(asked: record.asked)
                    continue
                }
                outcome = .failed(asked: record.asked)
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
