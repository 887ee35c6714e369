import DequeModule
import ParleyCore

/// Where one WebSocket connection is in its life, and what each thing that
/// happens to it calls for. A value without I/O: `GatewayConnection` keeps
/// it behind one lock and carries out, outside the lock, the action each
/// method returns (the shape of Hummingbird's
/// `HTTPConnectionStateHandler.StateMachine`).
///
/// It holds everything about the connection that changes: its phase, the
/// requests waiting for its task, its sends waiting for their commit (the
/// send window) and its conduct (request budget, strikes, mistakes).
struct ConnectionStateMachine {
    typealias Decoded = Result<ClientRequest, FrameError>

    enum Phase {
        /// Upgraded, not signed in yet.
        case awaitingAuth
        /// Signed in: requests are answered.
        case open(ClientSession)
        /// The server is stopping: the client was told, further requests are
        /// ignored, and the close waits for the sends already committing.
        case draining(ClientSession)
        /// The socket is gone.
        case ended
    }

    /// What waits for the connection's task, in arrival order.
    enum Job: Sendable {
        /// Sign in with the token the upgrade's header carried.
        case start(Identity)
        /// A request that arrived while the task was working: screened when its turn comes.
        case request(Decoded)
        /// The part of a request that has to wait.
        case wait(Waiting)
    }

    enum Waiting: Sendable {
        case signIn(ClientRequest)
        /// A query, a read mark, typing, presence, or a send waiting for a window slot.
        case perform(ClientRequest, ClientSession)
    }

    /// What a request calls for, once looked at.
    enum Screened {
        /// Nothing: the socket is closing, or the server is stopping.
        case ignore
        /// The frame could not be read: answer it. `misuse` may say it was one too many (4400).
        case undecodable(FrameError, misuse: ConnectionGuard.Verdict)
        /// One frame too many before signing in: close (4400), no answer.
        case tooManyBeforeAuth
        /// Over the socket's request rate: answer (typing needs no answer).
        /// `verdict` may say the client keeps at it (4429).
        case rateLimited(ClientRequest, retryAfter: Duration, verdict: ConnectionGuard.Verdict, ClientSession)
        /// A send with its slot in the window taken: hand it to the store.
        case submit(SendRequest, re: String?, ClientSession)
        /// A send whose fields are wrong.
        case refuseSend(ChatError, re: String?, ClientSession)
        case pong(re: String?)
        /// It has to wait: the connection's task does it.
        case wait(Waiting)
    }

    enum ReceiveAction {
        /// Do it now, on the event loop (never `.wait`).
        case now(Screened)
        /// Queued behind requests that wait: nothing more to do.
        case queued
        /// Queued, and no task is working the queue: start one. The reader
        /// stops reading until `nextJob` finds the queue empty.
        case startWorking
    }

    enum NextJob {
        case job(Job)
        /// Nothing left: the task ends and the socket is read again.
        case idle(resumeReading: (@Sendable () -> Void)?)
    }

    enum StopAction {
        /// Tell the session, wait for its sends in flight, close with 1001.
        case drain(ClientSession)
        /// Not signed in: close with 1001 at once.
        case closeUnsigned
        case none
    }

    private(set) var phase = Phase.awaitingAuth
    private var queue: Deque<Job> = []
    /// A task is working through `queue`.
    private(set) var isWorking = false
    /// Makes the reader read the socket again after the task ends.
    private var resumeReading: (@Sendable () -> Void)?
    private var conduct: ConnectionGuard
    private let maxSendsInFlight: Int
    private var sendsInFlight = 0
    /// The connection's task, waiting for a slot (it alone waits, so one at most).
    private var sendWaiter: CheckedContinuation<Void, Never>?
    /// A drain, waiting for the sends in flight to be answered.
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    init(maxSendsInFlight: Int, conduct: ConnectionGuard) {
        self.maxSendsInFlight = maxSendsInFlight
        self.conduct = conduct
    }

    var session: ClientSession? {
        switch phase {
        case .open(let session), .draining(let session): session
        case .awaitingAuth, .ended: nil
        }
    }

    // MARK: The socket's life

    mutating func opened(resumeReading: @escaping @Sendable () -> Void) {
        self.resumeReading = resumeReading
    }

    /// Signing in is done: the session is live, unless the socket ended
    /// (or signed in) meanwhile, which `false` says.
    mutating func signedIn(_ session: ClientSession) -> Bool {
        guard case .awaitingAuth = phase else { return false }
        phase = .open(session)
        return true
    }

    /// Starts the drain of a signed-in session; false if not open.
    mutating func drain() -> Bool {
        guard case .open(let session) = phase else { return false }
        phase = .draining(session)
        return true
    }

    mutating func serverStopping() -> StopAction {
        switch phase {
        case .awaitingAuth: return .closeUnsigned
        case .open(let session):
            phase = .draining(session)
            return .drain(session)
        case .draining, .ended: return .none
        }
    }

    enum EndAction {
        /// Unregister the session, then let go of the socket's state.
        case unregister(ClientSession)
        /// Never signed in: let go of the socket's state.
        case release
        /// Ended already.
        case none
    }

    /// The socket is closed.
    mutating func ended() -> EndAction {
        let previous = phase
        if case .ended = previous { return .none }
        phase = .ended
        resumeReading = nil
        queue = []
        switch previous {
        case .open(let session), .draining(let session): return .unregister(session)
        case .awaitingAuth, .ended: return .release
        }
    }

    // MARK: Requests

    /// A whole message from the client, on the event loop. `closing`: the
    /// socket's close is decided, so requests are no longer answered.
    mutating func received(_ decoded: Decoded, closing: Bool, now: ContinuousClock.Instant) -> ReceiveAction {
        // Behind a request that waits, this one waits too: replies keep their order.
        if isWorking {
            queue.append(.request(decoded))
            return .queued
        }
        switch screen(decoded, closing: closing, now: now) {
        case .wait(let waiting):
            queue.append(.wait(waiting))
            isWorking = true
            return .startWorking
        case let screened:
            return .now(screened)
        }
    }

    /// Queues signing in with the upgrade's token; true if a task must start.
    mutating func signIn(_ identity: Identity) -> Bool {
        queue.append(.start(identity))
        guard !isWorking else { return false }
        isWorking = true
        return true
    }

    /// The task's next job.
    mutating func nextJob() -> NextJob {
        if let job = queue.popFirst() { return .job(job) }
        isWorking = false
        // An idle connection keeps no queue storage.
        queue = []
        return .idle(resumeReading: resumeReading)
    }

    /// Looks at a request: does what needs no waiting, says what waits.
    mutating func screen(_ decoded: Decoded, closing: Bool, now: ContinuousClock.Instant) -> Screened {
        if closing { return .ignore }
        if case .awaitingAuth = phase, conduct.frameBeforeAuth() == .misusing { return .tooManyBeforeAuth }
        let request: ClientRequest
        switch decoded {
        case .success(let decoded): request = decoded
        case .failure(let failure): return .undecodable(failure, misuse: conduct.misused(now: now))
        }
        let session: ClientSession
        switch phase {
        case .awaitingAuth: return .wait(.signIn(request))
        case .open(let open): session = open
        // Draining: the notice said so; answering every further frame would
        // only queue replies ahead of the close.
        case .draining, .ended: return .ignore
        }
        // Sends have their own limit, per user; everything else this one.
        if request.kind != .send, let wait = conduct.admitRequest(now: now) {
            return .rateLimited(request, retryAfter: wait, verdict: conduct.refused(now: now), session)
        }
        switch request.action {
        case .send(let send) where takeSendSlot(): return .submit(send, re: request.id, session)
        case .malformed(.send, let error): return .refuseSend(error, re: request.id, session)
        case .ping: return .pong(re: request.id)
        default: return .wait(.perform(request, session))
        }
    }

    // MARK: Conduct

    /// A frame was refused for its rate.
    mutating func refused(now: ContinuousClock.Instant) -> ConnectionGuard.Verdict {
        conduct.refused(now: now)
    }

    /// A frame could not be used at all.
    mutating func misused(now: ContinuousClock.Instant) -> ConnectionGuard.Verdict {
        conduct.misused(now: now)
    }

    /// A binary frame: before signing in, it counts as a frame before auth.
    mutating func binaryReceived(now: ContinuousClock.Instant) -> ConnectionGuard.Verdict {
        if case .awaitingAuth = phase, conduct.frameBeforeAuth() == .misusing { return .misusing }
        return conduct.misused(now: now)
    }

    // MARK: The send window

    /// At most `maxSendsInFlight` sends wait for their commit; past that the
    /// connection's task waits, and the reader with it.
    mutating func takeSendSlot() -> Bool {
        guard sendsInFlight < maxSendsInFlight else { return false }
        sendsInFlight += 1
        return true
    }

    /// For the connection's task: true if a slot was taken at once;
    /// otherwise `waiter` is resumed when one passes to it.
    mutating func waitForSendSlot(_ waiter: CheckedContinuation<Void, Never>) -> Bool {
        if takeSendSlot() { return true }
        precondition(sendWaiter == nil, "only the connection's task waits for a send slot")
        sendWaiter = waiter
        return false
    }

    /// A send was answered. Returns whom to resume: the task waiting for a
    /// slot (the slot passes straight to it), or, once none is in flight,
    /// a drain waiting for that.
    mutating func sendAnswered() -> [CheckedContinuation<Void, Never>] {
        if let waiter = sendWaiter {
            sendWaiter = nil
            return [waiter]
        }
        sendsInFlight -= 1
        guard sendsInFlight == 0 else { return [] }
        defer { idleWaiters = [] }
        return idleWaiters
    }

    /// True if no send is in flight; otherwise `waiter` is resumed when none is.
    mutating func waitForSendsAnswered(_ waiter: CheckedContinuation<Void, Never>) -> Bool {
        guard sendsInFlight > 0 else { return true }
        idleWaiters.append(waiter)
        return false
    }
}
