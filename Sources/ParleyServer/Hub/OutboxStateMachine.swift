import DequeModule
import NIOCore

/// The rules of a session's `Outbox`, without its lock or its socket: each
/// call moves the queue along its phases and returns what the caller must
/// do, so that every path can be tested on its own.
struct OutboxStateMachine {
    /// The phases of a session's queue, in the order they come.
    enum State {
        /// Before `ready`: frames queue up, but none is written and no write-out is woken.
        case held
        /// Frames are written as they come.
        case open
        /// A close is requested: the frames queued before it are still to be written, then its close frame.
        case closing(Closing)
        /// The close frame has been handed to the socket, once: the client's close now ends the handshake.
        case closeSent(Closing)
        /// The connection is gone: nothing is queued or written any more. A late write-out is still told
        /// whether a close was under way, and whether the client had sent its close frame.
        case finished(closeRequested: Bool, peerClosed: Bool)
    }

    struct Closing {
        let close: Outbox.Close
        /// The queue was dropped with the close: what a write-out under way could not write is dropped too.
        let queueDiscarded: Bool
        /// The client sent its close frame: ours answers it, and then the socket is closed at once.
        var peerClosed: Bool
    }

    let limit: Int
    private var state: State
    private var frames: Deque<WireFrame> = []
    private var queuedBytes = 0
    /// A write-out is scheduled and has not yet taken the queue.
    private var wakePending = false
    /// The last write-out stopped at a full socket: the socket's writability event
    /// writes out next, so producers need not wake it.
    private var socketFull = false

    init(limit: Int, held: Bool = false) {
        self.limit = limit
        self.state = held ? .held : .open
    }

    // MARK: Producers

    enum SendAction: Equatable {
        /// The frame waits for the socket; `wake`: schedule a write-out.
        case queued(wake: Bool)
        /// A close is under way, or the connection is gone: the frame is dropped.
        case refusedClosing
        /// The frame would pass the limit: the session is closed as too slow and its queue dropped.
        /// `wake`: schedule the write-out that hands over the close frame.
        case closedTooSlow(wake: Bool)
    }

    mutating func send(_ frame: WireFrame) -> SendAction {
        switch state {
        case .held, .open:
            let bytes = frame.bytes.readableBytes
            // A socket that takes data soon writes a burst out; a full one may never.
            if queuedBytes + bytes > (socketFull ? limit : limit * Outbox.burstFactor) {
                requestClose(Outbox.Close(code: CloseCode.tooSlow, reason: "too slow"), discardingQueued: true)
                return .closedTooSlow(wake: claimWake(forced: true))
            }
            frames.append(frame)
            queuedBytes += bytes
            return .queued(wake: claimWake(forced: false))
        case .closing, .closeSent, .finished:
            return .refusedClosing
        }
    }

    enum CloseAction: Equatable {
        /// The close is under way; `wake`: schedule a write-out.
        case closing(wake: Bool)
        /// An earlier close, or the end of the connection, stands: the first close wins.
        case alreadyClosing
    }

    mutating func close(_ close: Outbox.Close, discardingQueued: Bool) -> CloseAction {
        switch state {
        case .held, .open:
            requestClose(close, discardingQueued: discardingQueued)
            return .closing(wake: claimWake(forced: true))
        case .closing, .closeSent, .finished:
            return .alreadyClosing
        }
    }

    enum ReleaseAction: Equatable {
        /// Frames flow again; `wake`: schedule a write-out.
        case released(wake: Bool)
        /// Nothing was held back.
        case notHeld
    }

    /// Puts `first` ahead of everything queued while held, then releases.
    mutating func release(first: WireFrame) -> ReleaseAction {
        switch state {
        case .held:
            state = .open
            frames.prepend(first)
            queuedBytes += first.bytes.readableBytes
        case .open, .closing, .closeSent, .finished:
            return .notHeld
        }
        return .released(wake: claimWake(forced: true))
    }

    mutating func hold() {
        switch state {
        case .held, .open:
            state = .held
        case .closing, .closeSent, .finished:
            // A close decided before the session signed in stands: there is
            // nothing to hold back for, since `ready` will not follow it.
            break
        }
    }

    /// The connection is gone: what is queued is dropped.
    mutating func finish() {
        switch state {
        case .held, .open:
            state = .finished(closeRequested: false, peerClosed: false)
        case .closing(let closing), .closeSent(let closing):
            state = .finished(closeRequested: true, peerClosed: closing.peerClosed)
        case .finished:
            break
        }
        frames.removeAll()
        queuedBytes = 0
    }

    enum PeerCloseAction: Equatable {
        /// Our close frame has gone, or the connection is gone: the closing handshake is over.
        case closeSocketNow
        /// Our close frame answers the client's once what is queued before it is written;
        /// `wake`: schedule a write-out.
        case waitForOurCloseFrame(wake: Bool)
    }

    /// The client sent a close frame. Ours answers it with `code`, unless a
    /// close of our own was requested first.
    mutating func peerClosed(code: UInt16) -> PeerCloseAction {
        let answer = Outbox.Close(code: code, reason: "")
        switch state {
        case .held, .open:
            requestClose(answer, discardingQueued: false, peerClosed: true)
        case .closing(var closing):
            closing.peerClosed = true
            state = .closing(closing)
        case .closeSent(var closing):
            closing.peerClosed = true
            state = .closeSent(closing)
            return .closeSocketNow
        case .finished(let closeRequested, _):
            state = .finished(closeRequested: closeRequested, peerClosed: true)
            return .closeSocketNow
        }
        return .waitForOurCloseFrame(wake: claimWake(forced: true))
    }

    /// A close is under way, or the connection is gone: nothing more is accepted.
    var isClosing: Bool {
        switch state {
        case .held, .open: false
        case .closing, .closeSent, .finished: true
        }
    }

    /// The client has sent its close frame: once ours is written, the socket is closed.
    var peerHasClosed: Bool {
        switch state {
        case .held, .open: false
        case .closing(let closing), .closeSent(let closing): closing.peerClosed
        case .finished(_, let peerClosed): peerClosed
        }
    }

    // MARK: The socket's write-out

    /// A write-out begins: it takes the whole queue, unless held.
    mutating func takeBatch() -> Deque<WireFrame> {
        wakePending = false
        socketFull = false
        guard !isHeld else { return [] }
        defer {
            frames = []
            queuedBytes = 0
        }
        return frames
    }

    enum WriteOutAction: Equatable {
        /// No close is under way.
        case stayOpen
        /// A close is under way, and its frame is not due yet or has already gone: the socket
        /// must not wait for the client forever.
        case closeUnderWay
        /// Everything queued before the close is written: the close frame goes now. Handed out once.
        case sendCloseFrame(Outbox.Close)
    }

    /// A write-out ends; `unwritten` is what the socket had no room for.
    mutating func wroteOut(unwritten: Deque<WireFrame>.SubSequence) -> WriteOutAction {
        if !unwritten.isEmpty {
            putBack(unwritten)
            return closeRequested ? .closeUnderWay : .stayOpen
        }
        switch state {
        case .closing(let closing) where frames.isEmpty:
            state = .closeSent(closing)
            return .sendCloseFrame(closing.close)
        case .held, .open, .closing, .closeSent, .finished:
            return closeRequested ? .closeUnderWay : .stayOpen
        }
    }

    // MARK: Helpers

    /// A close ends the wait for `ready`, so that its close frame can go.
    /// While held, what is queued is dropped whatever the caller asked: those
    /// events must not go out before `ready`, which now never will.
    private mutating func requestClose(_ close: Outbox.Close, discardingQueued: Bool, peerClosed: Bool = false) {
        precondition(!isClosing, "the first close wins: callers request one only while held or open")
        let discarding = discardingQueued || isHeld
        state = .closing(Closing(close: close, queueDiscarded: discarding, peerClosed: peerClosed))
        if discarding {
            frames.removeAll()
            queuedBytes = 0
        }
    }

    /// What a write-out could not write goes back in front, and waits for the
    /// socket's writability event.
    private mutating func putBack(_ unwritten: Deque<WireFrame>.SubSequence) {
        switch state {
        case .closing(let closing) where closing.queueDiscarded, .closeSent(let closing) where closing.queueDiscarded:
            // A discarding close meanwhile dropped these too.
            return
        case .finished:
            // So did the end of the session.
            return
        case .held, .open, .closing, .closeSent:
            frames.prepend(contentsOf: unwritten)
            queuedBytes += unwritten.reduce(0) { $0 + $1.bytes.readableBytes }
            socketFull = true
        }
    }

    /// Whether the caller must wake the socket's write-out: at most one is
    /// pending. A close or a release wakes even a full socket (`forced`),
    /// whose writability event may never come. Never called once finished.
    private mutating func claimWake(forced: Bool) -> Bool {
        guard !wakePending, !isHeld, forced || !socketFull else { return false }
        wakePending = true
        return true
    }

    private var isHeld: Bool {
        if case .held = state { return true }
        return false
    }

    private var closeRequested: Bool {
        switch state {
        case .held, .open: false
        case .closing, .closeSent: true
        case .finished(let closeRequested, _): closeRequested
        }
    }
}
