import DequeModule
import NIOCore
import Synchronization

/// What one session has yet to be sent: a bounded queue between the code that
/// produces events (fan-out, replies) and the session's socket.
///
/// Producers never wait. The first frame queued on an idle outbox calls
/// `wake`, which schedules one `drain` on the socket's event loop; the frames
/// queued until it runs leave with it, in one write. While the socket cannot
/// take more, frames wait here, and a session whose queue would pass `limit`
/// bytes while its socket is full (`burstFactor` times that while it is not)
/// is closed and its queue dropped, so one slow reader never holds up a
/// conversation or grows the server's memory.
final class Outbox: Sendable {
    struct Close: Equatable, Sendable {
        let code: UInt16
        let reason: String
    }

    private struct State {
        var frames: Deque<WireFrame> = []
        var queuedBytes = 0
        /// While held, frames queue up but are not drained: the session must
        /// send `ready` before any event.
        var held = false
        /// A drain is scheduled and has not yet taken the queue.
        var wakePending = false
        /// The last drain stopped at a full socket: the socket's writability
        /// event drains next, so producers need not wake it.
        var socketFull = false
        var closeRequest: Close?
        /// The close frame has been handed to the socket.
        var closeSent = false
        /// The client sent its close frame: ours answers it, and then the
        /// socket is closed at once.
        var peerClosed = false
        var discarded = false
        var finished = false

        /// Whether the caller must wake the socket's drain.
        mutating func needsWake(_ force: Bool = false) -> Bool {
            guard !wakePending, !held, !finished, force || !socketFull else { return false }
            wakePending = true
            return true
        }

        mutating func requestClose(_ close: Close, discardingQueued: Bool) {
            closeRequest = close
            if discardingQueued {
                frames.removeAll()
                queuedBytes = 0
                discarded = true
            }
            held = false
        }
    }

    let limit: Int
    /// A socket that is taking data may have this many times `limit` queued
    /// for a moment: one commit's fan-out (a client's own pipelined sends
    /// echoed back, say) lands before its event loop gets to write any.
    static let burstFactor = 4
    private let state: Mutex<State>
    private let wake: @Sendable () -> Void

    /// `wake` must schedule `drain` on the socket's event loop.
    init(limit: Int, held: Bool = false, wake: @escaping @Sendable () -> Void = {}) {
        self.limit = limit
        self.state = Mutex(State(held: held))
        self.wake = wake
    }

    /// Queues a frame without waiting. Returns false if the session is closing.
    @discardableResult
    func send(_ frame: WireFrame) -> Bool {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            guard state.closeRequest == nil, !state.finished else { return (false, false) }
            if state.queuedBytes + frame.bytes.readableBytes > (state.socketFull ? limit : limit * Self.burstFactor) {
                state.requestClose(Close(code: CloseCode.tooSlow, reason: "too slow"), discardingQueued: true)
                return (false, state.needsWake(true))
            }
            state.frames.append(frame)
            state.queuedBytes += frame.bytes.readableBytes
            return (true, state.needsWake())
        }
        if wake { self.wake() }
        return accepted
    }

    /// Asks for the socket to be closed once what is queued has been written
    /// (or at once, dropping it, with `discardingQueued`). The first close wins.
    func close(code: UInt16, reason: String, discardingQueued: Bool = false) {
        let wake = state.withLock { state -> Bool in
            guard state.closeRequest == nil, !state.finished else { return false }
            state.requestClose(Close(code: code, reason: reason), discardingQueued: discardingQueued)
            return state.needsWake(true)
        }
        if wake { self.wake() }
    }

    /// Puts `first` ahead of everything queued while held, then releases.
    func release(first: WireFrame) {
        let wake = state.withLock { state -> Bool in
            guard state.held else { return false }
            state.held = false
            if state.closeRequest == nil {
                state.frames.prepend(first)
                state.queuedBytes += first.bytes.readableBytes
            }
            return state.needsWake(true)
        }
        if wake { self.wake() }
    }

    func hold() {
        state.withLock { $0.held = true }
    }

    /// The connection is gone: drop what is queued.
    func finish() {
        state.withLock { state in
            state.finished = true
            state.frames.removeAll()
            state.queuedBytes = 0
        }
    }

    /// The client sent a close frame. Ours answers it with `code`, unless a
    /// close of our own was requested first. Returns true if our close frame
    /// has already gone, so that the socket can be closed now; otherwise the
    /// socket is closed once it has.
    func peerClosed(code: UInt16) -> Bool {
        let (sent, wake) = state.withLock { state -> (Bool, Bool) in
            state.peerClosed = true
            if state.closeSent || state.finished { return (true, false) }
            if state.closeRequest == nil {
                // Held: the events queued so far must not go out before `ready`, which now never will.
                state.requestClose(Close(code: code, reason: ""), discardingQueued: state.held)
            }
            return (false, state.needsWake(true))
        }
        if wake { self.wake() }
        return sent
    }

    var isClosing: Bool {
        state.withLock { $0.closeRequest != nil || $0.finished }
    }

    // MARK: The socket's side

    /// What a drain did.
    struct Drained {
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
    /// next drain, which the socket's writability event runs.
    @discardableResult
    func drain(hasRoom: () -> Bool, write: (WireFrame) -> Void) -> Drained {
        let batch = state.withLock { state -> Deque<WireFrame> in
            state.wakePending = false
            state.socketFull = false
            guard !state.held, !state.finished else { return [] }
            defer {
                state.frames = []
                state.queuedBytes = 0
            }
            return state.frames
        }
        var written = 0
        for frame in batch {
            guard hasRoom() else { break }
            write(frame)
            written += 1
        }
        return state.withLock { state -> Drained in
            var drained = Drained(written: written, closing: state.closeRequest != nil, peerClosed: state.peerClosed)
            if written < batch.count {
                // A discarding close or the end of the session meanwhile dropped these too.
                guard !state.discarded, !state.finished else { return drained }
                let leftover = batch[written...]
                state.frames.prepend(contentsOf: leftover)
                state.queuedBytes += leftover.reduce(0) { $0 + $1.bytes.readableBytes }
                state.socketFull = true
                return drained
            }
            guard state.frames.isEmpty, !state.closeSent, !state.finished, let close = state.closeRequest else { return drained }
            state.closeSent = true
            drained.closeFrame = close
            return drained
        }
    }
}
