import ParleyCore
import ParleyStore
import Synchronization

/// Who is banned, and who is on the way: a user closed for flooding
/// `floodsBeforeBan` times within `window` is banned for `duration`. Bans
/// are stored before they take effect and loaded at start, so they survive
/// restarts; this process keeps them in memory so that checking costs no read.
final class BanList: Sendable {
    private struct State {
        var bannedUntil: [UserKey: Millis]
        var floods: [UserKey: EventWindow] = [:]
    }

    private let store: any ChatStore
    private let floodsBeforeBan: Int
    private let window: Duration
    private let duration: Duration
    private let now: @Sendable () -> Millis
    private let state: Mutex<State>

    private init(
        store: any ChatStore, bannedUntil: [UserKey: Millis], floodsBeforeBan: Int, window: Duration, duration: Duration,
        now: @escaping @Sendable () -> Millis
    ) {
        self.store = store
        self.floodsBeforeBan = floodsBeforeBan
        self.window = window
        self.duration = duration
        self.now = now
        self.state = Mutex(State(bannedUntil: bannedUntil))
    }

    static func load(store: any ChatStore, controls: AbuseControls, now: @escaping @Sendable () -> Millis) async throws -> BanList {
        BanList(
            store: store, bannedUntil: try await store.activeBans(at: now()), floodsBeforeBan: controls.floodsBeforeBan,
            window: controls.banWindow, duration: controls.banDuration, now: now)
    }

    /// When the user's ban ends, if they are banned now.
    func bannedUntil(_ user: UserKey) -> Millis? {
        let now = self.now()
        return state.withLock { state in
            guard let until = state.bannedUntil[user] else { return nil }
            if until <= now {
                state.bannedUntil[user] = nil
                return nil
            }
            return until
        }
    }

    /// A ban heard from a node (this one or another).
    func noteBan(_ user: UserKey, until: Millis) {
        state.withLock { state in state.bannedUntil[user] = max(state.bannedUntil[user] ?? 0, until) }
    }

    /// A lifted ban heard from a node (this one or another).
    func noteLifted(_ user: UserKey) {
        state.withLock { state in state.bannedUntil[user] = nil }
    }

    /// Throws `forbidden` for a banned user.
    func check(_ user: UserKey) throws(ChatError) {
        if let until = bannedUntil(user) {
            throw ChatError.forbidden("banned until \(until) (Unix ms)")
        }
    }

    /// Records that a socket of the user was closed for flooding. Returns
    /// the end of the ban it earns, if it earns one; the ban is then stored
    /// and in force when this returns.
    func recordFlood(_ user: UserKey, at instant: ContinuousClock.Instant = .now) async throws -> Millis? {
        let earned = state.withLock { state in
            state.floods[user, default: EventWindow(limit: floodsBeforeBan - 1, window: window)].record(now: instant)
        }
        guard earned, duration > .zero else { return nil }
        let until = now() + duration.wholeMilliseconds
        try await store.recordBan(user, until: until)
        state.withLock { state in
            state.bannedUntil[user] = max(state.bannedUntil[user] ?? 0, until)
            state.floods[user] = nil
        }
        return until
    }
}
