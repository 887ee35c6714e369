import DequeModule
import Synchronization

/// What one session has yet to be sent: a bounded queue between the code that
/// produces events (fan-out, replies) and the session's socket.
///
/// Producers never wait. The first frame queued on an idle outbox calls
/// `wake`, which schedules one `writeOut` on the socket's event loop; the frames
/// queued until it runs leave with it, in one write. While the socket cannot
/// take more, frames wait here, and a session whose queue would pass `limit`
/// bytes while its socket is full (`burstFactor` times that while it is not)
/// is closed and its queue dropped, so one slow reader never holds up a
/// conversation or grows the server's memory.
///
/// The rules live in `OutboxStateMachine`; this shell holds it behind a lock
/// and wakes the write-out outside it.
final class Outbox: Sendable {
    struct Close: Equatable, Sendable {
        let code: UInt16
        let reason: String
    }

    let limit: Int
    /// A socket that is taking data may have this many times `limit` queued
    /// for a moment: one commit's fan-out (a client's own pipelined sends
    /// echoed back, say) lands before its event loop gets to write any.
    static let burstFactor = 4
    private let machine: Mutex<OutboxStateMachine>
    private let wake: @Sendable () -> Void

    /// `wake` must schedule `writeOut` on the socket's event loop.
    init(limit: Int, held: Bool = false, wake: @escaping @Sendable () -> Void = {}) {
        self.limit = limit
        self.machine = Mutex(OutboxStateMachine(limit: limit, held: held))
        self.wake = wake
    }

    /// Queues a frame without waiting. Returns false if the session is closing.
    @discardableResult
    func send(_ frame: WireFrame) -> Bool {
        switch machine.withLock({ $0.send(frame) }) {
        case .queued(let wake):
            if wake { self.wake() }
            return true
        case .closedTooSlow(let wake):
            if wake { self.wake() }
            return false
        case .refusedClosing:
            return false
        }
    }

    /// Asks for the socket to be closed once what is queued has been written
    /// (or at once, dropping it, with `discardingQueued`). The first close wins.
    func close(code: UInt16, reason: String, discardingQueued: Bool = false) {
        let close = Close(code: code, reason: reason)
        switch machine.withLock({ $0.close(close, discardingQueued: discardingQueued) }) {
        case .closing(let wake):
            if wake { self.wake() }
        case .alreadyClosing:
            break
        }
    }

    /// Puts `first` ahead of everything queued while held, then releases.
    func release(first: WireFrame) {
        switch machine.withLock({ $0.release(first: first) }) {
        case .released(let wake):
            if wake { self.wake() }
        case .notHeld:
            break
        }
    }

    func hold() {
        machine.withLock { $0.hold() }
    }

    /// The connection is gone: drop what is queued.
    func finish() {
        machine.withLock { $0.finish() }
    }

    /// The client sent a close frame. Ours answers it with `code`, unless a
    /// close of our own was requested first. Returns true if our close frame
    /// has already gone, so that the socket can be closed now; otherwise the
    /// socket is closed once it has.
    func peerClosed(code: UInt16) -> Bool {
        switch machine.withLock({ $0.peerClosed(code: code) }) {
        case .closeSocketNow:
            return true
        case .waitForOurCloseFrame(let wake):
            if wake { self.wake() }
            return false
        }
    }

    var isClosing: Bool {
        machine.withLock { $0.isClosing }
    }

    // MARK: The socket's side

    /// What a write-out did.
    struct Written {
        var written = 0
        /// A close has been requested.
        var closing = false
        /// Everything queued before the close is written: the close frame
        /// goes now. Handed out once.
        var closeFrame: Close?
        /// The client has sent its close frame: once ours is written, the
        /// socket is closed.
        var peerClosed = false
    }

    /// Called on the socket's event loop: hands the queued frames to `write`
    /// while `hasRoom` says the socket takes more. What is left waits for the
    /// next write-out, which the socket's writability event runs.
    @discardableResult
    func writeOut(hasRoom: () -> Bool, write: (WireFrame) -> Void) -> Written {
        let batch = machine.withLock { $0.takeBatch() }
        var written = 0
        for frame in batch {
            guard hasRoom() else { break }
            write(frame)
            written += 1
        }
        return machine.withLock { machine in
            var result = Written(written: written)
            switch machine.wroteOut(unwritten: batch[written...]) {
            case .stayOpen:
                break
            case .closeUnderWay:
                result.closing = true
            case .sendCloseFrame(let close):
                result.closing = true
                result.closeFrame = close
            }
            result.peerClosed = machine.peerHasClosed
            return result
        }
    }
}
