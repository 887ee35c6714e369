import DequeModule
import NIOCore
import Synchronization

/// What one session has yet to be sent: a bounded queue between the code that
/// produces events (fan-out, replies) and the task that writes the socket.
///
/// Producers never wait. A session whose socket cannot keep up is closed once
/// its queue would pass `limit` bytes, and its queue is dropped, so one slow
/// reader never holds up a conversation or grows the server's memory.
final class Outbox: Sendable {
    enum Next {
        case frames([ByteBuffer])
        case close(code: UInt16, reason: String)
        case finished
    }

    private struct State {
        var frames: Deque<ByteBuffer> = []
        var queuedBytes = 0
        /// While held, frames queue up but are not handed to the writer: the
        /// session must send `ready` before any event.
        var held = false
        var closeRequest: (code: UInt16, reason: String)?
        var closeSent = false
        var finished = false
        var waiter: CheckedContinuation<Next, Never>?
        /// The one task waiting for a close to be requested (or the session to end).
        var closeWaiter: CheckedContinuation<Void, Never>?

        mutating func takeNext() -> Next? {
            if finished || closeSent { return .finished }
            if !held && !frames.isEmpty {
                defer {
                    frames.removeAll(keepingCapacity: false)
                    queuedBytes = 0
                }
                return .frames(Array(frames))
            }
            if let closeRequest {
                closeSent = true
                return .close(code: closeRequest.code, reason: closeRequest.reason)
            }
            return nil
        }

        mutating func takeCloseWaiter() -> CheckedContinuation<Void, Never>? {
            defer { closeWaiter = nil }
            return closeWaiter
        }

        mutating func wakeWaiter() -> (CheckedContinuation<Next, Never>, Next)? {
            guard let waiter, let next = takeNext() else { return nil }
            self.waiter = nil
            return (waiter, next)
        }
    }

    let limit: Int
    private let state: Mutex<State>

    init(limit: Int, held: Bool = false) {
        self.limit = limit
        self.state = Mutex(State(held: held))
    }

    /// Queues a frame without waiting. Returns false if the session is closing.
    @discardableResult
    func send(_ frame: ByteBuffer) -> Bool {
        var closeWaiter: CheckedContinuation<Void, Never>?
        defer { closeWaiter?.resume() }
        let (accepted, wake) = state.withLock { state -> (Bool, (CheckedContinuation<Next, Never>, Next)?) in
            guard state.closeRequest == nil, !state.finished else { return (false, nil) }
            if state.queuedBytes + frame.readableBytes > limit {
                state.frames.removeAll()
                state.queuedBytes = 0
                state.closeRequest = (CloseCode.tooSlow, "too slow")
                closeWaiter = state.takeCloseWaiter()
                return (false, state.wakeWaiter())
            }
            state.frames.append(frame)
            state.queuedBytes += frame.readableBytes
            return (true, state.wakeWaiter())
        }
        if let (waiter, next) = wake { waiter.resume(returning: next) }
        return accepted
    }

    /// Asks the writer to close the socket once what is queued has been sent
    /// (or at once, dropping it, with `discardingQueued`). The first close wins.
    func close(code: UInt16, reason: String, discardingQueued: Bool = false) {
        var closeWaiter: CheckedContinuation<Void, Never>?
        defer { closeWaiter?.resume() }
        let wake = state.withLock { state -> (CheckedContinuation<Next, Never>, Next)? in
            guard state.closeRequest == nil, !state.finished else { return nil }
            state.closeRequest = (code, reason)
            closeWaiter = state.takeCloseWaiter()
            if discardingQueued {
                state.frames.removeAll()
                state.queuedBytes = 0
            }
            state.held = false
            return state.wakeWaiter()
        }
        if let (waiter, next) = wake { waiter.resume(returning: next) }
    }

    /// Puts `first` ahead of everything queued while held, then releases.
    func release(first: ByteBuffer) {
        let wake = state.withLock { state -> (CheckedContinuation<Next, Never>, Next)? in
            guard state.held else { return nil }
            state.held = false
            if state.closeRequest == nil {
                state.frames.prepend(first)
                state.queuedBytes += first.readableBytes
            }
            return state.wakeWaiter()
        }
        if let (waiter, next) = wake { waiter.resume(returning: next) }
    }

    func hold() {
        state.withLock { $0.held = true }
    }

    /// The connection is gone: stop the writer and drop what is queued.
    func finish() {
        let (waiter, closeWaiter) = state.withLock { state -> (CheckedContinuation<Next, Never>?, CheckedContinuation<Void, Never>?) in
            state.finished = true
            state.frames.removeAll()
            state.queuedBytes = 0
            defer { state.waiter = nil }
            return (state.waiter, state.takeCloseWaiter())
        }
        waiter?.resume(returning: .finished)
        closeWaiter?.resume()
    }

    /// Returns once a close has been requested or the session has ended
    /// (or the calling task is cancelled).
    func closeRequested() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state in
                    if state.closeRequest != nil || state.finished || Task.isCancelled { return true }
                    state.closeWaiter = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.takeCloseWaiter() }?.resume()
        }
    }

    var isClosing: Bool {
        state.withLock { $0.closeRequest != nil || $0.finished }
    }

    /// Waits for the next thing for the writer to do.
    func next() async -> Next {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Next? in
                    if let next = state.takeNext() { return next }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }
}

/// WebSocket close codes of docs/PROTOCOL.md.
enum CloseCode {
    static let goingAway: UInt16 = 1001
    static let policyViolation: UInt16 = 1008
    static let tooSlow: UInt16 = 1008
    static let messageTooBig: UInt16 = 1009
    static let protocolMisuse: UInt16 = 4400
    static let unauthenticated: UInt16 = 4401
    static let banned: UInt16 = 4403
    static let idle: UInt16 = 4408
    static let flooding: UInt16 = 4429
}
