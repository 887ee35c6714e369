import NIOCore
import ParleyCore
import ParleyStore
import Synchronization

/// Routes events to the open sessions of users, and keeps what the server
/// knows about each online user: their sessions here, what this node last
/// recorded of them (`ChatStore.recordSessions`), whether they are online
/// on any node, and when they last had `typing` relayed.
///
/// Users are spread over shards, each behind its own lock, so delivering to
/// the members of one conversation touches only their shards and never scans
/// all sessions; conversations fan out in parallel. Delivery only appends to
/// each session's outbox, so it never waits on a socket.
final class Hub: Sendable {
    private struct UserEntry {
        var sessions: [ClientSession] = []
        /// Sessions not let in yet (`countsSessions`), in the order they
        /// came: each waits for a record that counts it.
        var undecided: [SessionID] = []
        /// Decisions made before their session asked (`admission`).
        var decided: [SessionID: Admission] = [:]
        var waitingForDecision: [SessionID: CheckedContinuation<Admission, Never>] = [:]
        /// What this node last recorded of its sessions (nil: unknown,
        /// after a record whose outcome was lost): the announcer works
        /// towards `wanted == recorded`, one record at a time.
        var recorded: Int? = 0
        var announcing = false
        /// The store forgot this node's records (`forgetRecorded`) while a
        /// record was under way, which may have landed before that: its
        /// outcome no longer says what the store has.
        var forgottenDuringRecord = false
        /// Online on some node, this one included, as the last
        /// `onlineChanged` said.
        var onlineAnywhere = false
        /// Conversation id → when `typing` was last relayed there.
        var typing: [String: ContinuousClock.Instant] = [:]
        /// Sessions waiting for `ready` until this node's sessions are
        /// recorded (`untilRecorded`), by waiter id.
        var awaitingRecord: [UInt64: CheckedContinuation<Void, Never>] = [:]

        var hasSessions: Bool { !sessions.isEmpty }
        var admittedCount: Int { sessions.count - undecided.count }

        /// What the store should have: every session counted, or, when
        /// the store does not count them, whether there are any.
        func wanted(counting: Bool) -> Int { counting ? sessions.count : (hasSessions ? 1 : 0) }

        /// Recorded as this node has them, or nobody records any more.
        var isSettled: Bool { !announcing || ((recorded ?? 0) > 0 && hasSessions) }

        /// Nothing left worth keeping for an offline user.
        var isSpent: Bool { sessions.isEmpty && !announcing && recorded == 0 && !onlineAnywhere }

        /// Whether the store lacks this node's sessions, or sessions wait
        /// to be let in (the count may be right while a session that
        /// closed and one that opened await the same record).
        func recordDue(counting: Bool) -> Bool { wanted(counting: counting) != recorded || !undecided.isEmpty }

        /// Starts an announcer if a record is due and none is under way.
        mutating func needsAnnouncer(counting: Bool) -> Bool {
            guard !announcing, recordDue(counting: counting) else { return false }
            announcing = true
            return true
        }

        mutating func decide(_ id: SessionID, _ admission: Admission) {
            undecided.removeAll { $0 == id }
            if admission != .admitted { sessions.removeAll { $0.id == id } }
            if let waiter = waitingForDecision.removeValue(forKey: id) {
                waiter.resume(returning: admission)
            } else if admission != .closed {
                decided[id] = admission
            }
        }
    }

    private final class Shard: Sendable {
        let users = Mutex<[UserKey: UserEntry]>([:])
    }

    /// Typing entries kept per user; past this, new conversations' typing is dropped.
    static let maxTypingEntries = 256

    private let shards: [Shard]
    private let waiterIDs = Atomic<UInt64>(0)
    /// Whether the store counts sessions for a limit across nodes
    /// (`ChatStore.countsSessionsAcrossNodes`): then each session waits
    /// for a record that lets it in.
    let countsSessions: Bool

    init(shardCount: Int = 64, countsSessions: Bool = false) {
        shards = (0..<shardCount).map { _ in Shard() }
        self.countsSessions = countsSessions
    }

    private func shard(_ user: UserKey) -> Shard {
        shards[Int(UInt64(bitPattern: user.rawValue) % UInt64(shards.count))]
    }

    // MARK: Sessions and presence

    enum Registration: Equatable {
        /// Registered; `announce`: the caller must run a presence announcer
        /// for the user (see `nextRecord`).
        case registered(announce: Bool)
        /// The user has `maxSessions` open here already.
        case tooManySessions
    }

    /// What became of a registered session (`admission`).
    enum Admission: Equatable, Sendable {
        case admitted
        /// The other nodes hold the rest of the user's places.
        case tooManySessions
        /// The store could not count it: try again later.
        case unavailable
        /// Closed before it was decided.
        case closed
    }

    func register(_ session: ClientSession, maxSessions: Int = .max) -> Registration {
        shard(session.account.key).users.withLock { users in
            var entry = users[session.account.key] ?? UserEntry()
            guard entry.sessions.count < maxSessions else { return .tooManySessions }
            entry.sessions.append(session)
            if countsSessions { entry.undecided.append(session.id) }
            let announce = entry.needsAnnouncer(counting: countsSessions)
            users[session.account.key] = entry
            return .registered(announce: announce)
        }
    }

    /// Returns once the session is let in (at once, unless the store
    /// counts sessions across nodes) or turned away; one turned away is no
    /// longer registered.
    func admission(of session: ClientSession) async -> Admission {
        let shard = shard(session.account.key)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Admission, Never>) in
            let known: Admission? = shard.users.withLock { users in
                guard var entry = users[session.account.key] else { return .closed }
                if let decision = entry.decided.removeValue(forKey: session.id) {
                    users[session.account.key] = entry
                    return decision
                }
                guard entry.undecided.contains(session.id) else {
                    return entry.sessions.contains { $0 === session } ? .admitted : .closed
                }
                entry.waitingForDecision[session.id] = continuation
                users[session.account.key] = entry
                return nil
            }
            if let known { continuation.resume(returning: known) }
        }
    }

    /// Returns true if the caller must run a presence announcer for the user.
    func unregister(_ session: ClientSession) -> Bool {
        shard(session.account.key).users.withLock { users in
            guard var entry = users[session.account.key] else { return false }
            entry.sessions.removeAll { $0 === session }
            if entry.undecided.contains(session.id) { entry.decide(session.id, .closed) }
            entry.decided[session.id] = nil
            let start = entry.needsAnnouncer(counting: countsSessions)
            users[session.account.key] = entry.isSpent ? nil : entry
            return start
        }
    }

    /// What the announcer records next: this node's sessions of the user,
    /// those already let in, and those waiting for this record.
    struct SessionRecord: Equatable {
        let count: Int
        let admitted: Int
        let asked: [SessionID]
    }

    /// How the announcer's last record went.
    enum RecordOutcome {
        /// The store now has `granted` sessions for this node.
        case recorded(granted: Int, asked: [SessionID])
        /// Not recorded, or not known to be: the sessions asked for are
        /// turned away (their clients try again), and the record is tried again.
        case failed(asked: [SessionID])
        /// The store has been failing too long: the sessions asked for are
        /// turned away and the rest taken as recorded, so that the
        /// announcer stops.
        case givenUp(asked: [SessionID])
    }

    /// The announcer's loop step: notes how the last record went (if
    /// there was one), lets in or turns away the sessions it asked for,
    /// and returns what to record next, or nil when the store is up to
    /// date, which ends the announcer. One announcer per user at a time, so
    /// records never overtake each other, and flapping between them
    /// collapses into the latest state.
    func nextRecord(for user: UserKey, after outcome: RecordOutcome?) -> SessionRecord? {
        let counting = countsSessions
        return shard(user).users.withLock { users in
            guard var entry = users[user] else { return nil }
            switch outcome {
            case .recorded(let granted, let asked):
                entry.recorded = entry.forgottenDuringRecord ? nil : granted
                // Places recorded beyond those let in, in the order sessions came.
                for id in entry.undecided.prefix(max(0, granted - entry.admittedCount)) { entry.decide(id, .admitted) }
                for id in asked where entry.undecided.contains(id) { entry.decide(id, .tooManySessions) }
            case .failed(let asked):
                entry.recorded = nil
                for id in asked where entry.undecided.contains(id) { entry.decide(id, .unavailable) }
            case .givenUp(let asked):
                for id in asked where entry.undecided.contains(id) { entry.decide(id, .unavailable) }
                entry.recorded = entry.wanted(counting: counting)
            case nil:
                break
            }
            if outcome != nil { entry.forgottenDuringRecord = false }
            let wanted = entry.wanted(counting: counting)
            let next: SessionRecord?
            if entry.recordDue(counting: counting) {
                next = SessionRecord(count: wanted, admitted: counting ? entry.admittedCount : wanted, asked: entry.undecided)
            } else {
                entry.announcing = false
                next = nil
            }
            if entry.isSettled, !entry.awaitingRecord.isEmpty {
                for waiter in entry.awaitingRecord.values { waiter.resume() }
                entry.awaitingRecord = [:]
            }
            users[user] = entry.isSpent ? nil : entry
            return next
        }
    }

    /// Returns once this node's sessions of the user are recorded in the
    /// store (so that another node, closing the user's last session there,
    /// sees this one), or after `limit` if the store is slow to answer.
    /// A session sends `ready` after this: from then on the user is online
    /// for everyone, with no "offline" in between.
    func untilRecorded(_ user: UserKey, limit: Duration = .seconds(2)) async {
        let id = waiterIDs.add(1, ordering: .relaxed).newValue
        let shard = shard(user)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiting = shard.users.withLock { users in
                guard var entry = users[user], !entry.isSettled else { return false }
                entry.awaitingRecord[id] = continuation
                users[user] = entry
                return true
            }
            guard waiting else { return continuation.resume() }
            Task {
                try? await Task.sleep(for: limit)
                shard.users.withLock { users in users[user]?.awaitingRecord.removeValue(forKey: id) }?.resume()
            }
        }
    }

    /// The other nodes gave this one up (it was silent too long) and
    /// announced its users offline: everything it recorded is forgotten,
    /// and the users with sessions here are returned, each to be recorded
    /// again by an announcer the caller starts.
    func forgetRecorded() -> [Account] {
        let counting = countsSessions
        return shards.flatMap { shard in
            shard.users.withLock { users in
                var restart: [Account] = []
                for key in Array(users.keys) {
                    guard var entry = users[key] else { continue }
                    entry.recorded = 0
                    if entry.announcing { entry.forgottenDuringRecord = true }
                    if entry.needsAnnouncer(counting: counting), let session = entry.sessions.first { restart.append(session.account) }
                    users[key] = entry.isSpent ? nil : entry
                }
                return restart
            }
        }
    }

    /// Online on any node: sessions here, or the cluster's last word.
    func isOnline(_ user: UserKey) -> Bool {
        shard(user).users.withLock { users in
            guard let entry = users[user] else { return false }
            return entry.hasSessions || entry.onlineAnywhere
        }
    }

    /// Notes the cluster's word on the user (`onlineChanged`).
    func setOnlineAnywhere(_ user: UserKey, _ online: Bool) {
        shard(user).users.withLock { users in
            var entry = users[user] ?? UserEntry()
            entry.onlineAnywhere = online
            users[user] = entry.isSpent ? nil : entry
        }
    }

    func sessions(of user: UserKey) -> [ClientSession] {
        shard(user).users.withLock { $0[user]?.sessions ?? [] }
    }

    /// Every open session: for draining, not for routing.
    func allSessions() -> [ClientSession] {
        shards.flatMap { shard in shard.users.withLock { $0.values.flatMap(\.sessions) } }
    }

    var sessionCount: Int {
        shards.reduce(0) { count, shard in count + shard.users.withLock { $0.values.reduce(0) { $0 + $1.sessions.count } } }
    }

    /// Whether a `typing` from the user in the conversation may be relayed
    /// now: at most one per `interval`. Records it if so.
    func admitTyping(from user: UserKey, in conversationID: String, interval: Duration, now: ContinuousClock.Instant) -> Bool {
        shard(user).users.withLock { users in
            guard var entry = users[user], entry.hasSessions else { return false }
            if let last = entry.typing[conversationID], now - last < interval { return false }
            if entry.typing.count >= Self.maxTypingEntries {
                entry.typing = entry.typing.filter { now - $0.value < interval }
                guard entry.typing.count < Self.maxTypingEntries else { return false }
            }
            entry.typing[conversationID] = now
            users[user] = entry
            return true
        }
    }

    // MARK: Delivery (see Hub+Events.swift for what each event becomes)

    /// Queues the same bytes for every session of every recipient but
    /// `origin`, encoding them only if at least one such session is here.
    func deliver(_ encode: () -> WireFrame, to recipients: some Sequence<UserKey>, except origin: SessionID? = nil) {
        var frame: WireFrame?
        for recipient in recipients {
            for session in sessions(of: recipient) where session.id != origin {
                if frame == nil { frame = encode() }
                session.outbox.send(frame!)
            }
        }
    }

    /// Sends a just-stored message to every session of every recipient but the
    /// one it came from. Encoded at most three times: with `client_id` for
    /// the sender's other sessions, marked `sender_blocked` for those who
    /// blocked the sender, plain for everyone else.
    func deliver(_ message: Message, sender: UserKey, recipients: [UserKey], blockedBy: [UserKey], except origin: SessionID?) {
        var forOthers: WireFrame?
        var forSender: WireFrame?
        var forBlockers: WireFrame?
        for recipient in recipients {
            if !blockedBy.isEmpty && blockedBy.contains(recipient) {
                deliver(
                    {
                        if forBlockers == nil { forBlockers = ServerFrame.message(message, showClientID: false, senderBlocked: true) }
                        return forBlockers!
                    }, to: CollectionOfOne(recipient))
                continue
            }
            shard(recipient).users.withLock { users in
                guard let list = users[recipient]?.sessions else { return }
                for session in list where session.id != origin {
                    if recipient == sender {
                        if forSender == nil { forSender = ServerFrame.message(message, showClientID: true) }
                        session.outbox.send(forSender!)
                    } else {
                        if forOthers == nil { forOthers = ServerFrame.message(message, showClientID: false) }
                        session.outbox.send(forOthers!)
                    }
                }
            }
        }
    }

    /// Closes the user's open sockets (only those authenticated with
    /// `tokenID`, if given), dropping what they had queued.
    func closeSessions(user: UserKey, tokenID: String? = nil, code: UInt16, reason: String) {
        for session in sessions(of: user) where tokenID == nil || session.tokenID == tokenID {
            session.outbox.close(code: code, reason: reason, discardingQueued: true)
        }
    }
}
