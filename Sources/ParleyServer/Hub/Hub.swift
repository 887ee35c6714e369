import NIOCore
import ParleyCore
import ParleyStore
import Synchronization

/// One authenticated WebSocket connection, as the hub sees it.
final class ClientSession: Sendable {
    let id: String
    let account: Account
    let tokenID: String
    let outbox: Outbox

    init(id: String, account: Account, tokenID: String, outbox: Outbox) {
        self.id = id
        self.account = account
        self.tokenID = tokenID
        self.outbox = outbox
    }
}

/// Routes events to the open sessions of users.
///
/// Sessions are indexed by user in shards, each behind its own lock, so
/// delivering to the members of one conversation touches only their shards
/// and never scans all sessions; conversations fan out in parallel. Delivery
/// only appends to each session's outbox, so it never waits on a socket.
final class Hub: Sendable {
    private final class Shard: Sendable {
        let sessions = Mutex<[UserKey: [ClientSession]]>([:])
    }

    private let shards: [Shard]

    init(shardCount: Int = 64) {
        shards = (0..<shardCount).map { _ in Shard() }
    }

    private func shard(_ user: UserKey) -> Shard {
        shards[Int(UInt64(bitPattern: user.rawValue) % UInt64(shards.count))]
    }

    /// Returns true if this is the user's first open session.
    @discardableResult
    func register(_ session: ClientSession) -> Bool {
        shard(session.account.key).sessions.withLock { sessions in
            let isFirst = sessions[session.account.key] == nil
            sessions[session.account.key, default: []].append(session)
            return isFirst
        }
    }

    /// Returns true if that was the user's last open session.
    @discardableResult
    func unregister(_ session: ClientSession) -> Bool {
        shard(session.account.key).sessions.withLock { sessions in
            guard var list = sessions[session.account.key] else { return false }
            list.removeAll { $0 === session }
            sessions[session.account.key] = list.isEmpty ? nil : list
            return list.isEmpty
        }
    }

    func isOnline(_ user: UserKey) -> Bool {
        shard(user).sessions.withLock { $0[user] != nil }
    }

    func sessions(of user: UserKey) -> [ClientSession] {
        shard(user).sessions.withLock { $0[user] ?? [] }
    }

    /// Sends a just-stored message to every session of every recipient but the
    /// one it came from. Encoded at most twice: with `client_id` for the
    /// sender's other sessions, without it for everyone else.
    func publish(_ message: Message, sender: UserKey, recipients: [UserKey], except origin: ClientSession?) {
        let forOthers = ServerFrame.message(message, showClientID: false)
        var forSender: ByteBuffer?
        for recipient in recipients {
            shard(recipient).sessions.withLock { sessions in
                guard let list = sessions[recipient] else { return }
                for session in list where session !== origin {
                    if recipient == sender {
                        if forSender == nil { forSender = ServerFrame.message(message, showClientID: true) }
                        session.outbox.send(forSender!)
                    } else {
                        session.outbox.send(forOthers)
                    }
                }
            }
        }
    }

    /// Closes every open socket authenticated with the token.
    func closeSessions(user: UserKey, tokenID: String, code: UInt16, reason: String) {
        for session in sessions(of: user) where session.tokenID == tokenID {
            session.outbox.close(code: code, reason: reason, discardingQueued: true)
        }
    }
}
