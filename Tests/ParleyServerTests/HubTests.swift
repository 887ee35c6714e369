import NIOCore
import ParleyCore
import Testing

@testable import ParleyServer

/// The hub and the outboxes, without sockets: routing, encode-once, and what
/// happens to a session that cannot keep up.
@Suite("Hub and outboxes", .timeLimit(.minutes(2)))
struct HubTests {
    func account(_ key: Int64) -> Account {
        Account(key: UserKey(key), user: User(id: OpaqueID.make(), handle: "user\(key)", displayName: "User \(key)"))
    }

    func session(_ account: Account, limit: Int = 1 << 20) -> ClientSession {
        ClientSession(id: OpaqueID.make(), account: account, tokenID: OpaqueID.make(), outbox: Outbox(limit: limit))
    }

    func message(from sender: Account, seq: Int64, text: String = "hello") -> Message {
        Message(id: OpaqueID.make(), conversationID: OpaqueID.make(), seq: seq, sender: sender.user, text: text, ts: 1, clientID: "c\(seq)")
    }

    /// Everything queued for a session, without waiting.
    func drain(_ outbox: Outbox) async -> [ByteBuffer] {
        outbox.close(code: 1000, reason: "test")
        var frames: [ByteBuffer] = []
        while case .frames(let batch) = await outbox.next() { frames += batch }
        return frames
    }

    @Test("publish reaches every session of every recipient but the origin, sharing one buffer for everyone else")
    func routing() async {
        let hub = Hub()
        let alice = account(1), bob = account(2), carol = account(3)
        let alice1 = session(alice), alice2 = session(alice), bob1 = session(bob), bob2 = session(bob), carol1 = session(carol)
        for s in [alice1, alice2, bob1, bob2, carol1] { _ = hub.register(s) }

        hub.publish(message(from: alice, seq: 1), sender: alice.key, recipients: [alice.key, bob.key], except: alice1)

        #expect(await drain(alice1.outbox).isEmpty)
        #expect(await drain(carol1.outbox).isEmpty)
        let own = await drain(alice2.outbox)
        let bobs = await drain(bob1.outbox) + drain(bob2.outbox)
        #expect(own.count == 1 && bobs.count == 2)
        #expect(String(buffer: own[0]).contains("\"client_id\":\"c1\""))
        #expect(!String(buffer: bobs[0]).contains("client_id"))
        // Encoded once: both of Bob's sessions hold the very same storage.
        bobs[0].withUnsafeReadableBytes { first in
            bobs[1].withUnsafeReadableBytes { second in #expect(first.baseAddress == second.baseAddress) }
        }
    }

    @Test("the first session and the last one start a presence announcement; others do not")
    func presenceEdges() {
        let hub = Hub()
        let alice = account(7)
        let first = session(alice), second = session(alice)
        #expect(hub.register(first) == .registered(announce: true), "first session: announce")
        #expect(hub.nextAnnouncement(for: alice.key, announced: nil) == true)
        #expect(hub.nextAnnouncement(for: alice.key, announced: true) == nil, "contacts are up to date")
        #expect(hub.register(second) == .registered(announce: false), "a second session changes nothing")
        #expect(hub.isOnline(alice.key))
        #expect(!hub.unregister(first))
        #expect(hub.unregister(second), "last session: announce")
        #expect(!hub.isOnline(alice.key))
        #expect(hub.nextAnnouncement(for: alice.key, announced: nil) == false)
        #expect(hub.nextAnnouncement(for: alice.key, announced: false) == nil)
        #expect(hub.sessions(of: alice.key).isEmpty)
    }

    @Test("opening and closing while an announcement is under way is coalesced into the latest state")
    func presenceCoalesced() {
        let hub = Hub()
        let alice = account(8)
        let first = session(alice), second = session(alice)
        #expect(hub.register(first) == .registered(announce: true))
        #expect(hub.nextAnnouncement(for: alice.key, announced: nil) == true)
        // While "online" is being announced, Alice leaves and comes back:
        // no second announcer, and nothing more to say afterwards.
        #expect(!hub.unregister(first))
        #expect(hub.register(second) == .registered(announce: false))
        #expect(hub.nextAnnouncement(for: alice.key, announced: true) == nil)
        // While "offline" is being announced, she comes back: the announcer
        // goes on to say "online" again.
        #expect(hub.unregister(second))
        #expect(hub.nextAnnouncement(for: alice.key, announced: nil) == false)
        #expect(hub.register(first) == .registered(announce: false))
        #expect(hub.nextAnnouncement(for: alice.key, announced: false) == true)
        #expect(hub.nextAnnouncement(for: alice.key, announced: true) == nil)
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
    func slowSession() async {
        let hub = Hub()
        let sender = account(1), slow = account(2), fast = account(3)
        let slowSession = session(slow, limit: 4096)
        let fastSession = session(fast)
        _ = hub.register(slowSession)
        _ = hub.register(fastSession)

        for seq in 1...200 {
            hub.publish(message(from: sender, seq: Int64(seq), text: String(repeating: "x", count: 100)), sender: sender.key, recipients: [slow.key, fast.key], except: nil)
        }

        #expect(slowSession.outbox.isClosing)
        guard case .close(let code, let reason) = await slowSession.outbox.next() else {
            Issue.record("the slow session should be told to close first, its queue dropped")
            return
        }
        #expect(code == 1008 && reason == "too slow")
        let delivered = await drain(fastSession.outbox)
        #expect(delivered.count == 200)
        #expect(String(buffer: delivered.last!).contains("\"seq\":200"))
    }

    @Test("the outbox holds events behind ready, then sends ready first")
    func heldUntilReady() async {
        let outbox = Outbox(limit: 1 << 20)
        outbox.hold()
        outbox.send(ByteBuffer(string: "event-1"))
        outbox.send(ByteBuffer(string: "event-2"))
        outbox.release(first: ByteBuffer(string: "ready"))
        let frames = await drain(outbox).map { String(buffer: $0) }
        #expect(frames == ["ready", "event-1", "event-2"])
    }

    @Test("a close sends what is queued first, unless told to discard it; nothing is accepted afterwards")
    func closing() async {
        let polite = Outbox(limit: 1 << 20)
        polite.send(ByteBuffer(string: "last words"))
        polite.close(code: 4401, reason: "token revoked")
        #expect(!polite.send(ByteBuffer(string: "too late")))
        guard case .frames(let frames) = await polite.next() else { Issue.record("queued frames go first"); return }
        #expect(frames.map { String(buffer: $0) } == ["last words"])
        guard case .close(4401, "token revoked") = await polite.next() else { Issue.record("then the close"); return }
        guard case .finished = await polite.next() else { Issue.record("then nothing"); return }

        let abrupt = Outbox(limit: 1 << 20)
        abrupt.send(ByteBuffer(string: "dropped"))
        abrupt.close(code: 4401, reason: "token revoked", discardingQueued: true)
        guard case .close = await abrupt.next() else { Issue.record("discarded queue: the close comes at once"); return }
    }

    @Test("a writer waiting on an empty outbox wakes for a frame, and for finish")
    func waking() async {
        let outbox = Outbox(limit: 1 << 20)
        async let next = outbox.next()
        try? await Task.sleep(for: .milliseconds(20))
        outbox.send(ByteBuffer(string: "wake"))
        guard case .frames(let frames) = await next else { Issue.record("expected the frame"); return }
        #expect(frames.map { String(buffer: $0) } == ["wake"])

        async let ended = outbox.next()
        try? await Task.sleep(for: .milliseconds(20))
        outbox.finish()
        guard case .finished = await ended else { Issue.record("finish ends the writer"); return }
    }
}
