import NIOCore
import Testing

@testable import ParleyServer

/// The outbox's rules driven directly, with no lock and no socket: what each
/// call tells its caller to do.
@Suite("Outbox state machine")
struct OutboxStateMachineTests {
    typealias Close = Outbox.Close

    let revoked = Close(code: 4401, reason: "token revoked")

    /// What one write-out wrote, and what the machine said after it.
    struct WriteOut {
        let written: [String]
        let action: OutboxStateMachine.WriteOutAction
    }

    func frame(_ text: String) -> WireFrame {
        WireFrame(text: text)
    }

    /// A write-out whose socket takes `room` frames.
    func writeOut(_ machine: inout OutboxStateMachine, room: Int = .max) -> WriteOut {
        let batch = machine.takeBatch()
        let written = min(room, batch.count)
        return WriteOut(
            written: batch.prefix(written).map { String(buffer: $0.payload) },
            action: machine.wroteOut(unwritten: batch[written...]))
    }

    @Test("held: frames wait and wake no write-out; the release puts ready first and wakes once")
    func heldUntilReady() {
        var machine = OutboxStateMachine(limit: 1000, held: true)
        #expect(machine.send(frame("event-1")) == .queued(wake: false))
        #expect(machine.send(frame("event-2")) == .queued(wake: false))
        let held = writeOut(&machine)
        #expect(held.written.isEmpty, "nothing leaves before ready")
        #expect(held.action == .stayOpen)
        #expect(!machine.isClosing)

        #expect(machine.release(first: frame("ready")) == .released(wake: true))
        #expect(machine.release(first: frame("ready again")) == .notHeld)
        #expect(machine.send(frame("event-3")) == .queued(wake: false), "the release's wake is still pending")
        #expect(writeOut(&machine).written == ["ready", "event-1", "event-2", "event-3"])
    }

    @Test("one wake until a write-out takes the queue; a full socket is woken by its writability event, not by sends")
    func wakes() {
        var machine = OutboxStateMachine(limit: 1000)
        #expect(machine.send(frame("one")) == .queued(wake: true))
        #expect(machine.send(frame("two")) == .queued(wake: false))
        let partial = writeOut(&machine, room: 1)
        #expect(partial.written == ["one"])
        #expect(partial.action == .stayOpen)
        #expect(machine.send(frame("three")) == .queued(wake: false), "the socket is full")
        #expect(writeOut(&machine).written == ["two", "three"], "what waited goes first")
        #expect(machine.send(frame("four")) == .queued(wake: true), "the socket takes data again")
        #expect(machine.send(frame("five")) == .queued(wake: false))
    }

    @Test("a socket taking data may hold burstFactor × the limit, a full one the limit; past it the session is closed as too slow and its queue dropped")
    func tooSlow() {
        let ten = frame("12345678")  // 10 bytes framed
        var taking = OutboxStateMachine(limit: 100)
        #expect(taking.send(ten) == .queued(wake: true))
        for _ in 1..<(10 * Outbox.burstFactor) { #expect(taking.send(ten) == .queued(wake: false)) }
        #expect(taking.send(ten) == .closedTooSlow(wake: false), "past 4 × the limit; the first send's wake is still pending")
        #expect(taking.isClosing)
        #expect(taking.send(ten) == .refusedClosing)
        #expect(taking.close(revoked, discardingQueued: false) == .alreadyClosing, "too slow was the first close")
        let closed = writeOut(&taking)
        #expect(closed.written.isEmpty, "the queue is dropped")
        #expect(closed.action == .sendCloseFrame(Close(code: 1008, reason: "too slow")))

        var full = OutboxStateMachine(limit: 100)
        _ = full.send(ten)
        #expect(writeOut(&full, room: 0).written.isEmpty)
        for _ in 1..<10 { #expect(full.send(ten) == .queued(wake: false), "up to the limit itself") }
        #expect(full.send(ten) == .closedTooSlow(wake: true), "the close wakes even a full socket")
        #expect(writeOut(&full).action == .sendCloseFrame(Close(code: 1008, reason: "too slow")))
    }

    @Test("a close goes after what was queued before it, once; the first close wins; nothing is accepted afterwards")
    func closing() {
        var machine = OutboxStateMachine(limit: 1000)
        _ = machine.send(frame("last words"))
        #expect(machine.close(revoked, discardingQueued: false) == .closing(wake: false), "the send's wake is still pending")
        #expect(machine.isClosing)
        #expect(machine.send(frame("too late")) == .refusedClosing)
        #expect(machine.close(Close(code: 1001, reason: "again"), discardingQueued: true) == .alreadyClosing)
        let closed = writeOut(&machine)
        #expect(closed.written == ["last words"], "the later, discarding close changed nothing")
        #expect(closed.action == .sendCloseFrame(revoked))
        #expect(writeOut(&machine).action == .closeUnderWay, "the close frame is handed out once")

        var discarding = OutboxStateMachine(limit: 1000)
        _ = discarding.send(frame("dropped"))
        #expect(discarding.close(revoked, discardingQueued: true) == .closing(wake: false))
        let abrupt = writeOut(&discarding)
        #expect(abrupt.written.isEmpty)
        #expect(abrupt.action == .sendCloseFrame(revoked))

        var idle = OutboxStateMachine(limit: 1000)
        #expect(idle.close(revoked, discardingQueued: false) == .closing(wake: true))
    }

    @Test("behind a full socket, the close wakes a write-out but its frame waits for what was queued before it")
    func closeBehindFullSocket() {
        var machine = OutboxStateMachine(limit: 1000)
        _ = machine.send(frame("a"))
        _ = machine.send(frame("b"))
        #expect(writeOut(&machine, room: 1).written == ["a"])
        #expect(machine.close(revoked, discardingQueued: false) == .closing(wake: true))
        let stuck = writeOut(&machine, room: 0)
        #expect(stuck.written.isEmpty)
        #expect(stuck.action == .closeUnderWay, "b still waits")
        let done = writeOut(&machine)
        #expect(done.written == ["b"])
        #expect(done.action == .sendCloseFrame(revoked))
    }

    @Test("what a write-out could not write goes back in front, unless a discarding close or the end came meanwhile")
    func leftovers() {
        var open = OutboxStateMachine(limit: 1000)
        for text in ["a", "b", "c"] { _ = open.send(frame(text)) }
        let batch = open.takeBatch()
        #expect(open.send(frame("d")) == .queued(wake: true))
        #expect(open.wroteOut(unwritten: batch[1...]) == .stayOpen)
        #expect(writeOut(&open).written == ["b", "c", "d"])

        var politeClose = OutboxStateMachine(limit: 1000)
        for text in ["a", "b"] { _ = politeClose.send(frame(text)) }
        let politeBatch = politeClose.takeBatch()
        #expect(politeClose.close(revoked, discardingQueued: false) == .closing(wake: true))
        #expect(politeClose.wroteOut(unwritten: politeBatch[1...]) == .closeUnderWay)
        let polite = writeOut(&politeClose)
        #expect(polite.written == ["b"])
        #expect(polite.action == .sendCloseFrame(revoked))

        var discardingClose = OutboxStateMachine(limit: 1000)
        for text in ["a", "b"] { _ = discardingClose.send(frame(text)) }
        let discardedBatch = discardingClose.takeBatch()
        #expect(discardingClose.close(revoked, discardingQueued: true) == .closing(wake: true))
        #expect(discardingClose.wroteOut(unwritten: discardedBatch[1...]) == .closeUnderWay)
        let discarded = writeOut(&discardingClose)
        #expect(discarded.written.isEmpty)
        #expect(discarded.action == .sendCloseFrame(revoked))

        var finished = OutboxStateMachine(limit: 1000)
        for text in ["a", "b"] { _ = finished.send(frame(text)) }
        let finishedBatch = finished.takeBatch()
        finished.finish()
        #expect(finished.wroteOut(unwritten: finishedBatch[1...]) == .stayOpen)
        #expect(finished.takeBatch().isEmpty)

        var held = OutboxStateMachine(limit: 1000)
        for text in ["a", "b"] { _ = held.send(frame(text)) }
        let heldBatch = held.takeBatch()
        held.hold()
        #expect(held.wroteOut(unwritten: heldBatch[1...]) == .stayOpen)
        #expect(writeOut(&held).written.isEmpty, "held again")
        #expect(held.release(first: frame("ready")) == .released(wake: true))
        #expect(writeOut(&held).written == ["ready", "b"])
    }

    @Test("the client's close: answered after what is queued, dropping what waits behind ready, by ours if ours came first; once ours is out, the socket closes at once")
    func peerClose() {
        var held = OutboxStateMachine(limit: 1000, held: true)
        _ = held.send(frame("an event before ready"))
        #expect(held.peerClosed(code: 1000) == .waitForOurCloseFrame(wake: true))
        #expect(held.peerHasClosed)
        let heldWrite = writeOut(&held)
        #expect(heldWrite.written.isEmpty, "no event goes out without ready, which now never will")
        #expect(heldWrite.action == .sendCloseFrame(Close(code: 1000, reason: "")))
        #expect(held.release(first: frame("ready")) == .notHeld)

        var open = OutboxStateMachine(limit: 1000)
        _ = open.send(frame("a"))
        _ = open.send(frame("b"))
        #expect(writeOut(&open, room: 1).written == ["a"])
        #expect(!open.peerHasClosed)
        #expect(open.peerClosed(code: 1001) == .waitForOurCloseFrame(wake: true), "wakes even a full socket")
        #expect(open.peerClosed(code: 1000) == .waitForOurCloseFrame(wake: false), "its wake is still pending")
        let openWrite = writeOut(&open)
        #expect(openWrite.written == ["b"])
        #expect(openWrite.action == .sendCloseFrame(Close(code: 1001, reason: "")))

        var closing = OutboxStateMachine(limit: 1000)
        _ = closing.send(frame("queued"))
        _ = closing.close(revoked, discardingQueued: false)
        #expect(closing.peerClosed(code: 1000) == .waitForOurCloseFrame(wake: false))
        #expect(closing.peerHasClosed)
        let closingWrite = writeOut(&closing)
        #expect(closingWrite.written == ["queued"])
        #expect(closingWrite.action == .sendCloseFrame(revoked), "ours answers it")

        var closeSent = OutboxStateMachine(limit: 1000)
        _ = closeSent.close(Close(code: 4408, reason: "no answer to two pings"), discardingQueued: false)
        #expect(writeOut(&closeSent).action == .sendCloseFrame(Close(code: 4408, reason: "no answer to two pings")))
        #expect(!closeSent.peerHasClosed)
        #expect(closeSent.peerClosed(code: 1000) == .closeSocketNow, "the handshake is complete")
        #expect(closeSent.peerHasClosed)
        #expect(writeOut(&closeSent).action == .closeUnderWay, "no second close frame")

        var finished = OutboxStateMachine(limit: 1000)
        finished.finish()
        #expect(finished.peerClosed(code: 1000) == .closeSocketNow)
        #expect(finished.peerHasClosed)
    }

    @Test("the end of the connection drops the queue and refuses everything; a late write-out still learns whether a close was under way")
    func finishing() {
        var open = OutboxStateMachine(limit: 1000)
        _ = open.send(frame("never sent"))
        open.finish()
        #expect(open.isClosing)
        #expect(open.send(frame("after the end")) == .refusedClosing)
        #expect(open.close(revoked, discardingQueued: false) == .alreadyClosing)
        let late = writeOut(&open)
        #expect(late.written.isEmpty)
        #expect(late.action == .stayOpen)

        var closing = OutboxStateMachine(limit: 1000)
        _ = closing.send(frame("never sent"))
        _ = closing.close(revoked, discardingQueued: false)
        closing.finish()
        let closingLate = writeOut(&closing)
        #expect(closingLate.written.isEmpty)
        #expect(closingLate.action == .closeUnderWay, "no close frame, but the close was under way")

        var held = OutboxStateMachine(limit: 1000, held: true)
        _ = held.send(frame("never sent"))
        held.finish()
        #expect(held.release(first: frame("ready")) == .notHeld)
        held.hold()
        #expect(held.takeBatch().isEmpty)
    }

    @Test("a close while held drops the events queued behind ready, which will not come, and its close frame goes at once")
    func closeWhileHeld() {
        var machine = OutboxStateMachine(limit: 1000, held: true)
        _ = machine.send(frame("event"))
        #expect(machine.close(revoked, discardingQueued: false) == .closing(wake: true))
        #expect(machine.release(first: frame("ready")) == .notHeld)
        let closed = writeOut(&machine)
        #expect(closed.written.isEmpty, "no event goes out without ready")
        #expect(closed.action == .sendCloseFrame(revoked))
    }

    @Test("a hold that comes after a close changes nothing: what was queued before the close goes, then the close frame")
    func holdAfterClose() {
        var machine = OutboxStateMachine(limit: 1000)
        _ = machine.send(frame("pong"))
        _ = machine.close(revoked, discardingQueued: false)
        machine.hold()
        #expect(machine.release(first: frame("ready")) == .notHeld, "ready is not sent after a close")
        let closed = writeOut(&machine)
        #expect(closed.written == ["pong"])
        #expect(closed.action == .sendCloseFrame(revoked))

        var empty = OutboxStateMachine(limit: 1000)
        _ = empty.close(revoked, discardingQueued: false)
        empty.hold()
        #expect(writeOut(&empty).action == .sendCloseFrame(revoked))
        #expect(writeOut(&empty).action == .closeUnderWay)
    }
}
