import NIOCore
import ParleyCore
import Synchronization

/// A connection's clocks: the time it has to authenticate, then its pings and
/// its token's expiry. They run as timers on the socket's event loop rather
/// than as a task per connection, which an idle connection would hold
/// suspended, with its stack, for its whole life.
final class ConnectionDeadlines: Sendable {
    private struct State {
        var timer: Scheduled<Void>?
        var stopped = false
        /// Pings sent since the client last sent anything; the time of the last.
        var unanswered = 0
        var lastPing: UInt64 = 0
    }

    private let state = Mutex(State())
    private let eventLoop: any EventLoop
    private let outbox: Outbox
    private let liveness: Liveness
    private let pingInterval: Duration
    private let now: @Sendable () -> Millis

    init(eventLoop: any EventLoop, outbox: Outbox, liveness: Liveness, pingInterval: Duration, now: @escaping @Sendable () -> Millis) {
        self.eventLoop = eventLoop
        self.outbox = outbox
        self.liveness = liveness
        self.pingInterval = pingInterval
        self.now = now
    }

    /// Closes the socket (4401) if `isAuthenticated` is still false after `timeout`.
    func expectAuthentication(within timeout: Duration, isAuthenticated: @escaping @Sendable () -> Bool) {
        schedule(in: timeout) { [outbox] in
            if !isAuthenticated() { outbox.close(code: CloseCode.unauthenticated, reason: "authentication timeout") }
        }
    }

    /// From authentication on: pings the client every ping interval and
    /// closes the socket (4408) once two pings in a row got nothing back, not
    /// even a pong; closes it (4401) when the token expires, even if the
    /// client never sends another frame.
    func watch(until expiresTS: Millis) {
        scheduleNext(until: expiresTS)
    }

    /// Cancels what is scheduled, for good.
    func stop() {
        state.withLock { state in
            state.stopped = true
            state.timer?.cancel()
            state.timer = nil
        }
    }

    private func scheduleNext(until expiresTS: Millis) {
        let remaining = Duration.milliseconds(expiresTS - now())
        guard remaining > .zero else {
            outbox.close(code: CloseCode.unauthenticated, reason: "token expired")
            return
        }
        schedule(in: pingInterval > .zero ? min(pingInterval, remaining) : remaining) { [self] in
            tick(until: expiresTS)
        }
    }

    private func tick(until expiresTS: Millis) {
        guard expiresTS > now(), pingInterval > .zero else {
            scheduleNext(until: expiresTS)
            return
        }
        let idle = state.withLock { state -> Bool in
            if liveness.readSince(state.lastPing) { state.unanswered = 0 }
            // Two pings, each given at least an interval, and not a byte back.
            if state.unanswered >= 2 { return true }
            state.lastPing = NIODeadline.now().uptimeNanoseconds
            state.unanswered += 1
            return false
        }
        if idle {
            outbox.close(code: CloseCode.idle, reason: "no answer to two pings")
            return
        }
        outbox.send(.ping)
        scheduleNext(until: expiresTS)
    }

    private func schedule(in delay: Duration, _ body: @escaping @Sendable () -> Void) {
        state.withLock { state in
            guard !state.stopped else { return }
            state.timer?.cancel()
            state.timer = eventLoop.scheduleTask(in: TimeAmount(delay), body)
        }
    }
}
