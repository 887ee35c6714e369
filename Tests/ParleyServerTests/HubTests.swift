import NIOCore
import ParleyCore
import Synchronization
import Testing

@testable import ParleyServer

/// The hub and the outboxes, without sockets: routing, encode-once, and what
/// happens to a session that cannot keep up.
@Suite("Hub and outboxes", .timeLimit(.minutes(2)))
struct HubTests {
    func account(_ key: Int64) -> Account {
        Account(key: UserKey(key), user: User(id: OpaqueID.make(), handle: "user\(key)", displayName: "User \(key)"))
    }

    func session(_ account: Account, socket: FakeSocket = FakeSocket()) -> ClientSession {
        ClientSession(id: OpaqueID.make(), account: account, tokenID: OpaqueID.make(), outbox: socket.outbox)
    }

    func message(from sender: Account, seq: Int64, text: String = "hello") -> Message {
        Message(id: OpaqueID.make(), conversationID: OpaqueID.make(), seq: seq, sender: sender.user, text: text, ts: 1, clientID: "c\(seq)")
    }

    @Test("publish reaches every session of every recipient but the origin, sharing one buffer for everyone else")
    func routing() async {
        let hub = Hub()
        let alice = account(1), bob = account(2), carol = account(3)
        let sockets = (0..<5).map { _ in FakeSocket() }
        let alice1 = session(alice, socket: sockets[0]), alice2 = session(alice, socket: sockets[1])
        let bob1 = session(bob, socket: sockets[2]), bob2 = session(bob, socket: sockets[3]), carol1 = session(carol, socket: sockets[4])
        for s in [alice1, alice2, bob1, bob2, carol1] { _ = hub.register(s) }

        hub.handle(.messageStored(message(from: alice, seq: 1), sender: alice.key, recipients: [alice.key, bob.key], blockedBy: [], origin: alice1.id))

        #expect(sockets[0].written.isEmpty)
        #expect(sockets[4].written.isEmpty)
        let own = sockets[1].written
        let bobs = sockets[2].written + sockets[3].written
        #expect(own.count == 1 && bobs.count == 2)
        #expect(String(buffer: own[0]).contains("\"client_id\":\"c1\""))
        #expect(!String(buffer: bobs[0]).contains("client_id"))
        // Encoded once: both of Bob's sessions hold the very same storage.
        bobs[0].withUnsafeReadableBytes { first in
            bobs[1].withUnsafeReadableBytes { second in #expect(first.baseAddress == second.baseAddress) }
        }
    }

    func online(_ count: Int, asked: [SessionID] = []) -> Hub.SessionRecord {
        Hub.SessionRecord(count: count, admitted: count, asked: asked)
    }

    @Test("the first session and the last one start a presence announcement; others do not")
    func presenceEdges() async {
        let hub = Hub()
        let alice = account(7)
        let first = session(alice), second = session(alice)
        #expect(hub.register(first) == .registered(announce: true), "first session: announce")
        #expect(await hub.admission(of: first) == .admitted, "a store of one node leaves the limit to the hub")
        #expect(hub.nextRecord(for: alice.key, after: nil) == online(1))
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 1, asked: [])) == nil, "contacts are up to date")
        #expect(hub.register(second) == .registered(announce: false), "a second session changes nothing")
        #expect(hub.isOnline(alice.key))
        #expect(!hub.unregister(first))
        #expect(hub.unregister(second), "last session: announce")
        #expect(!hub.isOnline(alice.key))
        #expect(hub.nextRecord(for: alice.key, after: nil) == online(0))
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 0, asked: [])) == nil)
        #expect(hub.sessions(of: alice.key).isEmpty)
    }

    @Test("opening and closing while an announcement is under way is coalesced into the latest state")
    func presenceCoalesced() {
        let hub = Hub()
        let alice = account(8)
        let first = session(alice), second = session(alice)
        #expect(hub.register(first) == .registered(announce: true))
        #expect(hub.nextRecord(for: alice.key, after: nil) == online(1))
        // While "online" is being announced, Alice leaves and comes back:
        // no second announcer, and nothing more to say afterwards.
        #expect(!hub.unregister(first))
        #expect(hub.register(second) == .registered(announce: false))
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 1, asked: [])) == nil)
        // While "offline" is being announced, she comes back: the announcer
        // goes on to say "online" again.
        #expect(hub.unregister(second))
        #expect(hub.nextRecord(for: alice.key, after: nil) == online(0))
        #expect(hub.register(first) == .registered(announce: false))
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 0, asked: [])) == online(1))
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 1, asked: [])) == nil)
    }

    @Test("counted across nodes, each session waits for a record that counts it: let in as far as the store granted places, in the order they came, the rest turned away")
    func sessionsCounted() async {
        let hub = Hub(countsSessions: true)
        let alice = account(10)
        let sessions = (0..<4).map { _ in session(alice) }
        #expect(hub.register(sessions[0]) == .registered(announce: true))
        #expect(hub.register(sessions[1]) == .registered(announce: false), "one announcer at a time")
        let first = hub.nextRecord(for: alice.key, after: nil)
        #expect(first == Hub.SessionRecord(count: 2, admitted: 0, asked: [sessions[0].id, sessions[1].id]))
        // A third comes while the record is made; the store grants two.
        #expect(hub.register(sessions[2]) == .registered(announce: false))
        let waiting = Task { await hub.admission(of: sessions[2]) }
        let second = hub.nextRecord(for: alice.key, after: .recorded(granted: 2, asked: first?.asked ?? []))
        #expect(await hub.admission(of: sessions[0]) == .admitted)
        #expect(await hub.admission(of: sessions[1]) == .admitted)
        #expect(second == Hub.SessionRecord(count: 3, admitted: 2, asked: [sessions[2].id]), "the third is asked for next")
        // The other nodes hold the rest: the third is turned away, and no
        // longer registered; what is recorded is right, so nothing follows.
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 2, asked: second?.asked ?? [])) == nil)
        #expect(await waiting.value == .tooManySessions)
        #expect(hub.sessions(of: alice.key).map(\.id) == [sessions[0].id, sessions[1].id])

        // A record that fails turns its sessions away (their clients try
        // again) and is made again, since its outcome is unknown.
        #expect(hub.register(sessions[3]) == .registered(announce: true))
        let third = hub.nextRecord(for: alice.key, after: nil)
        #expect(third == Hub.SessionRecord(count: 3, admitted: 2, asked: [sessions[3].id]))
        #expect(hub.nextRecord(for: alice.key, after: .failed(asked: third?.asked ?? [])) == Hub.SessionRecord(count: 2, admitted: 2, asked: []))
        #expect(await hub.admission(of: sessions[3]) == .unavailable)

        // A session that closes while it waits hears so, and is not counted.
        let late = session(alice)
        #expect(hub.register(late) == .registered(announce: false))
        let closedWhileWaiting = Task { await hub.admission(of: late) }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(!hub.unregister(late))
        #expect(await closedWhileWaiting.value == .closed)
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 2, asked: [])) == nil)
    }

    @Test("counted, a session that opens as another closes waits for a record even when the count is already right")
    func countUnchangedButWaiting() async {
        let hub = Hub(countsSessions: true)
        let alice = account(12)
        let first = session(alice), second = session(alice)
        #expect(hub.register(first) == .registered(announce: true))
        let record = hub.nextRecord(for: alice.key, after: nil)
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 1, asked: record?.asked ?? [])) == nil)
        #expect(await hub.admission(of: first) == .admitted)
        // The first closes and the second opens before the announcer's
        // first step: the store has 1, the node has 1, and one waits.
        #expect(hub.unregister(first))
        #expect(hub.register(second) == .registered(announce: false))
        let next = hub.nextRecord(for: alice.key, after: nil)
        #expect(next == Hub.SessionRecord(count: 1, admitted: 0, asked: [second.id]))
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 1, asked: next?.asked ?? [])) == nil)
        #expect(await hub.admission(of: second) == .admitted)
    }

    @Test("a record under way when the other nodes gave this node up is made again: it may have landed before they removed it")
    func forgottenDuringRecord() async {
        let hub = Hub(countsSessions: true)
        let alice = account(11)
        let only = session(alice)
        #expect(hub.register(only) == .registered(announce: true))
        let first = hub.nextRecord(for: alice.key, after: nil)
        #expect(hub.forgetRecorded().isEmpty, "the running announcer goes on; no second one")
        let again = hub.nextRecord(for: alice.key, after: .recorded(granted: 1, asked: first?.asked ?? []))
        #expect(again == Hub.SessionRecord(count: 1, admitted: 1, asked: []), "recorded again")
        #expect(await hub.admission(of: only) == .admitted, "the place it was granted stands meanwhile")
        #expect(hub.nextRecord(for: alice.key, after: .recorded(granted: 1, asked: [])) == nil)

        // With no record under way, the forgotten users get an announcer.
        #expect(hub.forgetRecorded().map(\.key) == [alice.key])
    }

    @Test("typing is admitted once per interval per user and conversation, only for online users")
    func typingThrottle() {
        let hub = Hub()
        let alice = account(9)
        let start = ContinuousClock.now
        #expect(!hub.admitTyping(from: alice.key, in: "c1", interval: .seconds(2), now: start), "offline users do not type")
        _ = hub.register(session(alice))
        #expect(hub.admitTyping(from: alice.key, in: "c1", interval: .seconds(2), now: start))
        #expect(!hub.admitTyping(from: alice.key, in: "c1", interval: .seconds(2), now: start + .milliseconds(1999)))
        #expect(hub.admitTyping(from: alice.key, in: "c2", interval: .seconds(2), now: start + .milliseconds(1999)))
        #expect(hub.admitTyping(from: alice.key, in: "c1", interval: .seconds(2), now: start + .seconds(2)))
    }

    @Test("a session whose queue would pass its limit is closed with 1008 and its queue dropped; the others get everything")
    func slowSession() {
        let hub = Hub()
        let sender = account(1), slow = account(2), fast = account(3)
        let slowSocket = FakeSocket(limit: 4096, room: 0), fastSocket = FakeSocket()
        _ = hub.register(session(slow, socket: slowSocket))
        _ = hub.register(session(fast, socket: fastSocket))

        for seq in 1...200 {
            hub.handle(.messageStored(message(from: sender, seq: Int64(seq), text: String(repeating: "x", count: 100)), sender: sender.key, recipients: [slow.key, fast.key], blockedBy: [], origin: nil))
        }

        #expect(slowSocket.outbox.isClosing)
        #expect(slowSocket.closes == [Outbox.Close(code: 1008, reason: "too slow")], "the close goes at once, the queue dropped")
        #expect(slowSocket.written.isEmpty)
        slowSocket.makeRoom()
        #expect(slowSocket.written.isEmpty, "nothing dropped comes back")
        let delivered = fastSocket.written
        #expect(delivered.count == 200)
        #expect(String(buffer: delivered.last!).contains("\"seq\":200"))
    }

    @Test("the outbox holds events behind ready, then sends ready first")
    func heldUntilReady() {
        let socket = FakeSocket()
        socket.outbox.hold()
        socket.outbox.send(WireFrame(text: "event-1"))
        socket.outbox.send(WireFrame(text: "event-2"))
        #expect(socket.written.isEmpty)
        socket.outbox.release(first: WireFrame(text: "ready"))
        #expect(socket.written.map { String(buffer: $0) } == ["ready", "event-1", "event-2"])
    }

    @Test("frames the socket has no room for wait, in order and counted against the limit, until it has")
    func fullSocket() {
        let socket = FakeSocket(limit: 100, room: 1)
        for text in ["one", "two", "three"] { #expect(socket.outbox.send(WireFrame(text: text))) }
        #expect(socket.written.map { String(buffer: $0) } == ["one"])
        #expect(socket.wakes == 2, "once the socket is full, its writability event writes it out, not every send")
        socket.makeRoom()
        #expect(socket.written.map { String(buffer: $0) } == ["one", "two", "three"])

        socket.room.store(0, ordering: .relaxed)
        #expect(socket.outbox.send(WireFrame(text: String(repeating: "x", count: 60))))
        #expect(!socket.outbox.send(WireFrame(text: String(repeating: "y", count: 60))), "past the limit: too slow")
        #expect(socket.outbox.isClosing)
    }

    @Test("a close is handed over once what is queued before it is written, unless told to discard it; nothing is accepted afterwards")
    func closing() {
        let polite = FakeSocket(room: 0)
        polite.outbox.send(WireFrame(text: "last words"))
        polite.outbox.close(code: 4401, reason: "token revoked")
        #expect(!polite.outbox.send(WireFrame(text: "too late")))
        #expect(polite.written.isEmpty)
        #expect(polite.closes.isEmpty, "the close waits for the frame queued before it")
        polite.makeRoom()
        #expect(polite.written.map { String(buffer: $0) } == ["last words"])
        #expect(polite.closes == [Outbox.Close(code: 4401, reason: "token revoked")])
        polite.outbox.close(code: 1001, reason: "again")
        polite.makeRoom()
        #expect(polite.closes.count == 1, "the first close wins, handed over once")

        let abrupt = FakeSocket(room: 0)
        abrupt.outbox.send(WireFrame(text: "dropped"))
        abrupt.outbox.close(code: 4401, reason: "token revoked", discardingQueued: true)
        #expect(abrupt.closes == [Outbox.Close(code: 4401, reason: "token revoked")], "discarded queue: the close comes at once")
        abrupt.makeRoom()
        #expect(abrupt.written.isEmpty)
    }

    @Test("a socket that is taking data may have a burst of up to 4 × the limit queued; a full one only the limit")
    func burst() {
        let kilo = WireFrame(text: String(repeating: "x", count: 990))  // 994 bytes framed
        let taking = Outbox(limit: 1000)
        for _ in 0..<Outbox.burstFactor { #expect(taking.send(kilo)) }
        #expect(!taking.send(kilo), "past 4 × the limit")
        #expect(taking.isClosing)

        let full = Outbox(limit: 1000)
        #expect(full.send(kilo))
        full.writeOut(hasRoom: { false }) { _ in }
        #expect(!full.send(kilo), "the socket is full: the limit itself")
        #expect(full.isClosing)
    }

    @Test("the client's close is answered with its code after what is queued, or by ours if ours came first; once our close frame is out, the socket may close at once")
    func clientClose() {
        let answered = FakeSocket(room: 0)
        answered.outbox.send(WireFrame(text: "queued first"))
        #expect(!answered.outbox.peerClosed(code: 1000), "no close frame of ours has gone yet")
        #expect(answered.closes.isEmpty, "the answer waits for the frame queued before it")
        answered.makeRoom()
        #expect(answered.written.map { String(buffer: $0) } == ["queued first"])
        #expect(answered.closes == [Outbox.Close(code: 1000, reason: "")])

        let oursFirst = FakeSocket(room: 0)
        oursFirst.outbox.send(WireFrame(text: "queued"))
        oursFirst.outbox.close(code: 4401, reason: "token revoked")
        #expect(!oursFirst.outbox.peerClosed(code: 1001))
        oursFirst.makeRoom()
        #expect(oursFirst.closes == [Outbox.Close(code: 4401, reason: "token revoked")], "ours answers it")

        let oursSent = FakeSocket()
        oursSent.outbox.close(code: 4408, reason: "no answer to two pings")
        #expect(oursSent.closes.count == 1)
        #expect(oursSent.outbox.peerClosed(code: 1000), "the handshake is complete: close the socket")
        #expect(oursSent.closes.count == 1, "no second close frame")

        let held = Outbox(limit: 1 << 20, held: true)
        held.send(WireFrame(text: "an event before ready"))
        #expect(!held.peerClosed(code: 1000))
        var written: [String] = []
        let done = held.writeOut(hasRoom: { true }) { written.append(String(buffer: $0.payload)) }
        #expect(written.isEmpty, "no event goes out without ready, which now never will")
        #expect(done.closeFrame == Outbox.Close(code: 1000, reason: ""))
    }

    @Test("the end of the session drops the queue and any close; nothing is accepted afterwards")
    func finishing() {
        let socket = FakeSocket(room: 0)
        socket.outbox.send(WireFrame(text: "never sent"))
        socket.outbox.finish()
        socket.outbox.close(code: 1000, reason: "late")
        socket.makeRoom()
        #expect(socket.written.isEmpty)
        #expect(socket.closes.isEmpty)
        #expect(!socket.outbox.send(WireFrame(text: "after the end")))
    }
}
