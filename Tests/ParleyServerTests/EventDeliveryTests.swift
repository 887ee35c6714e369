import NIOCore
import ParleyCore
import ParleyStore
import Synchronization
import Testing

@testable import ParleyServer

/// The receiving end of the event seam, without sockets or a store: what
/// each `ChatEvent` becomes for this node's sessions, and the local broker.
@Suite("Event delivery", .timeLimit(.minutes(1)))
struct EventDeliveryTests {
    /// A user with `sessions` open, each on its own fake socket.
    struct Person {
        let account: Account
        let sessions: [ClientSession]
        let sockets: [FakeSocket]

        var key: UserKey { account.key }
        /// The frames each session received, as text.
        var received: [[String]] { sockets.map { $0.written.map { String(buffer: $0) } } }
    }

    func person(_ key: Int64, sessions count: Int = 1, in hub: Hub) -> Person {
        let account = Account(key: UserKey(key), user: User(id: OpaqueID.make(), handle: "user\(key)", displayName: "User \(key)"))
        let sockets = (0..<count).map { _ in FakeSocket() }
        let sessions = sockets.map { socket in
            ClientSession(id: OpaqueID.make(), account: account, tokenID: "token-\(key)-\(socket.wakes)-\(OpaqueID.make())", outbox: socket.outbox)
        }
        for session in sessions { _ = hub.register(session) }
        return Person(account: account, sessions: sessions, sockets: sockets)
    }

    func group(_ members: [Person], id: String = OpaqueID.make()) -> Conversation {
        Conversation(
            id: id, kind: .group, title: "g", owner: members[0].account.user,
            members: members.map { Member(account: $0.account, readSeq: 0) }, lastSeq: 0, lastMessage: nil, createdTS: 1,
            lastActivityTS: 1)
    }

    @Test("a read mark: a receipt to the other members, the read state to the reader's other sessions, nothing to the session that read")
    func readMark() {
        let hub = Hub()
        let ann = person(1, sessions: 2, in: hub), bob = person(2, in: hub), outsider = person(3, in: hub)
        let mark = ReadMark(conversationID: "conv", lastSeq: 9, readSeq: 7)
        hub.handle(.readMarkMoved(mark, reader: ann.account, receiptRecipients: [bob.key], origin: ann.sessions[0].id))

        #expect(ann.received[0].isEmpty, "the origin is answered directly")
        #expect(ann.received[1].count == 1 && ann.received[1][0].contains("\"type\":\"read_state\""))
        #expect(bob.received[0].count == 1 && bob.received[0][0].contains("\"type\":\"receipt\""))
        #expect(bob.received[0][0].contains(ann.account.user.id) && bob.received[0][0].contains("\"seq\":7"))
        #expect(outsider.received[0].isEmpty)
    }

    @Test("conversation events: encoded per viewer with sessions here; a member removed hears of it too")
    func conversationEvents() {
        let hub = Hub()
        let ann = person(1, in: hub), bob = person(2, sessions: 2, in: hub), cat = person(3, in: hub)
        let created = group([ann, bob])
        hub.handle(.conversationCreated(created))
        #expect(ann.received[0].count == 1 && ann.received[0][0].contains("\"change\":\"created\""))
        #expect(bob.received.allSatisfy { $0.count == 1 })
        #expect(cat.received[0].isEmpty)

        let afterRemoval = group([ann])
        hub.handle(.membershipChanged(MembershipChange(kind: .removed, conversation: afterRemoval, subject: bob.account)))
        #expect(bob.received.allSatisfy { $0.count == 2 && $0[1].contains("\"change\":\"member_removed\"") })
        #expect(ann.received[0].count == 2)

        hub.handle(.membershipChanged(MembershipChange(kind: .unchanged, conversation: afterRemoval, subject: cat.account)))
        #expect(ann.received[0].count == 2, "an unchanged membership says nothing")
    }

    @Test("typing and presence go to the people named, every session of theirs, encoded once")
    func typingAndPresence() {
        let hub = Hub()
        let ann = person(1, in: hub), bob = person(2, sessions: 2, in: hub), cat = person(3, in: hub)
        hub.handle(.typing(conversationID: "conv", typer: ann.account.user, recipients: [bob.key]))
        hub.handle(.presenceChanged(user: ann.account.user, online: false, lastSeenTS: 42, viewers: [bob.key, cat.key]))
        #expect(ann.received[0].isEmpty)
        #expect(bob.received.allSatisfy { $0.count == 2 && $0[0].contains("\"type\":\"typing\"") && $0[1].contains("\"last_seen_ts\":42") })
        #expect(cat.received[0].count == 1 && cat.received[0][0].contains("\"type\":\"presence\""))
        bob.sockets[0].written[1].withUnsafeReadableBytes { first in
            bob.sockets[1].written[1].withUnsafeReadableBytes { second in #expect(first.baseAddress == second.baseAddress) }
        }
    }

    @Test("events this node may have missed close every session here (1012), so that each reconnects and catches up")
    func eventsMissed() {
        let hub = Hub()
        let ann = person(1, sessions: 2, in: hub), bob = person(2, in: hub)
        hub.handle(.eventsMissed)
        for socket in ann.sockets + bob.sockets {
            #expect(socket.closes == [Outbox.Close(code: 1012, reason: "missed events: reconnect and catch up")])
        }
    }

    @Test("onlineChanged tells the contacts, and the hub knows the user is online anywhere until it says otherwise")
    func onlineAnywhere() {
        let hub = Hub()
        let bob = person(2, in: hub)
        let ann = Account(key: UserKey(1), user: User(id: "ann-id", handle: "ann", displayName: "Ann"))
        hub.handle(.onlineChanged(ann, online: true, lastSeenTS: nil, contacts: [bob.key]))
        #expect(hub.isOnline(ann.key), "online on another node")
        #expect(bob.received[0].count == 1 && bob.received[0][0].contains("\"online\":true"))
        hub.handle(.onlineChanged(ann, online: false, lastSeenTS: 7, contacts: [bob.key]))
        #expect(!hub.isOnline(ann.key))
        #expect(bob.received[0].count == 2 && bob.received[0][1].contains("\"last_seen_ts\":7"))
    }

    @Test("a revoked token closes only the sessions signed in with it (4401); a ban closes every session of the user (4403)")
    func closingSessions() {
        let hub = Hub()
        let ann = person(1, sessions: 3, in: hub), bob = person(2, in: hub)
        hub.handle(.tokenRevoked(user: ann.key, tokenID: ann.sessions[1].tokenID))
        #expect(ann.sockets.map(\.closes.count) == [0, 1, 0])
        #expect(ann.sockets[1].closes == [Outbox.Close(code: 4401, reason: "token revoked")])

        hub.handle(.userBanned(ann.key, until: 1_700_000_000_000))
        #expect(ann.sockets[0].closes == [Outbox.Close(code: 4403, reason: "banned until 1700000000000")])
        #expect(ann.sockets[2].closes.count == 1)
        #expect(bob.sockets[0].closes.isEmpty)
    }

    @Test("nobody connected here: nothing is encoded or queued")
    func nobodyHere() {
        let hub = Hub()
        let absent = Account(key: UserKey(9), user: User(id: OpaqueID.make(), handle: "gone", displayName: "Gone"))
        var encoded = 0
        hub.deliver({ encoded += 1; return WireFrame(text: "x") }, to: [absent.key])
        #expect(encoded == 0)
    }

    @Test("the local broker hands each event to its one handler, in order; events before it subscribed reach nobody")
    func localBroker() {
        final class Recorder: EventHandler {
            let seen = Mutex<[String]>([])
            func handle(_ event: ChatEvent) {
                if case .typing(let conversationID, _, _) = event { seen.withLock { $0.append(conversationID) } }
            }
        }
        let broker = LocalBroker()
        let typer = User(id: OpaqueID.make(), handle: "ann", displayName: "Ann")
        broker.publish(.typing(conversationID: "before", typer: typer, recipients: []))
        let recorder = Recorder()
        broker.subscribe(recorder)
        for index in 0..<3 { broker.publish(.typing(conversationID: "c\(index)", typer: typer, recipients: [])) }
        #expect(recorder.seen.withLock { $0 } == ["c0", "c1", "c2"])
    }
}
