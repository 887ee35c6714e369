import NIOCore
import ParleyCore

/// What one socket may still do: its budget of requests other than `send`,
/// its record of refused and malformed frames, and the frames it may send
/// before it is signed in.
struct ConnectionGuard: Sendable {
    enum Verdict: Equatable {
        case fine
        /// Kept sending after being refused: close with 4429.
        case flooding
        /// Kept sending frames it was told are wrong: close with 4400.
        case misusing
    }

    private var requests: TokenBucket?
    private var refusals: EventWindow
    private var mistakes: EventWindow
    /// Frames still allowed before the socket is signed in.
    private var framesBeforeAuth: Int

    init(_ controls: AbuseControls, now: ContinuousClock.Instant = .now) {
        // A rate of 0 turns the limit off.
        requests = controls.requestRate > 0 ? TokenBucket(rate: controls.requestRate, burst: controls.requestBurst, now: now) : nil
        refusals = EventWindow(limit: controls.floodStrikes, window: controls.strikeWindow)
        mistakes = EventWindow(limit: controls.protocolWarnings, window: .seconds(60))
        framesBeforeAuth = controls.framesBeforeAuth
    }

    /// A frame arrived before the socket signed in: one who cannot sign in
    /// gets a few answers (`unauthorized`), not one per frame for ever.
    mutating func frameBeforeAuth() -> Verdict {
        framesBeforeAuth -= 1
        return framesBeforeAuth < 0 ? .misusing : .fine
    }

    /// Takes a token for a request that is not a `send`; nil if allowed,
    /// else how long until the next one would be.
    mutating func admitRequest(now: ContinuousClock.Instant = .now) -> Duration? {
        requests?.take(now: now)
    }

    /// A frame was refused for its rate.
    mutating func refused(now: ContinuousClock.Instant = .now) -> Verdict {
        refusals.record(now: now) ? .flooding : .fine
    }

    /// A frame could not be used at all: not JSON, binary, unknown type.
    mutating func misused(now: ContinuousClock.Instant = .now) -> Verdict {
        mistakes.record(now: now) ? .misusing : .fine
    }
}
