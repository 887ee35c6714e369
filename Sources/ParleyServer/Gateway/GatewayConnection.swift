import DequeModule
import Logging
import NIOCore
import ParleyCore
import ParleyStore
import Synchronization

/// One WebSocket connection's requests. Its `WebSocketReader` hands it each
/// client message on the socket's event loop, where whatever needs no
/// waiting is handled at once, a send with room in its window among them
/// (the commit answers later, from the store). A message that has to wait
/// (sign-in, a query, a full send window) starts a task that works through
/// it and whatever arrives behind it, in order, and ends when none is left;
/// meanwhile the reader stops reading the socket. So an idle connection
/// holds no task: its outbox is drained by its `SocketWriter` and its
/// deadlines are timers, all on the event loop.
final class GatewayConnection: MessageReceiver {
    enum HeaderAuth: Sendable {
        case absent
        case invalid
        case valid(Identity)
    }

    private enum Phase {
        case awaitingAuth
        case authenticated(ClientSession, Identity)
        case ended
    }

    private typealias Decoded = Result<ClientFrame, FrameError>

    /// What is left of a message once everything that needs no waiting is done.
    private enum Remainder {
        case done
        case signIn(ClientFrame)
        case perform(ClientFrame, ClientSession)
    }

    /// What waits for the connection's task, in arrival order.
    private enum Job {
        case start(Identity)
        case message(Decoded)
        case remainder(Remainder)
    }

    private struct Work {
        var queue: Deque<Job> = []
        /// A task is working through the queue.
        var running = false
        /// Called when the task ends, to read the socket again.
        var resume: (@Sendable () -> Void)?
    }

    private let gateway: WebSocketGateway
    private let logger: Logger
    private let outbox: Outbox
    private let phase = Mutex(Phase.awaitingAuth)
    private let work = Mutex(Work())
    private let sendWindow: SendWindow
    private let conduct: Mutex<ConnectionGuard>
    private let deadlines: ConnectionDeadlines
    private let isDraining = Atomic(false)

    init(gateway: WebSocketGateway, liveness: Liveness, outbox: Outbox, eventLoop: any EventLoop, logger: Logger) {
        self.gateway = gateway
        self.logger = logger
        self.outbox = outbox
        self.deadlines = ConnectionDeadlines(
            eventLoop: eventLoop, outbox: outbox, liveness: liveness, pingInterval: gateway.settings.abuse.pingInterval,
            now: gateway.now)
        self.sendWindow = SendWindow(limit: gateway.settings.maxSendsInFlight)
        self.conduct = Mutex(ConnectionGuard(gateway.settings.abuse))
    }

    private var abuse: AbuseControls { gateway.settings.abuse }

    private var chat: ChatService { gateway.chat }

    private var session: (ClientSession, Identity)? {
        phase.withLock {
            if case .authenticated(let session, let identity) = $0 { return (session, identity) }
            return nil
        }
    }

    // MARK: The reader's side (on the socket's event loop)

    /// The socket is upgraded. `resume` must make the reader read again.
    func open(_ headerAuth: HeaderAuth, resume: @escaping @Sendable () -> Void) {
        work.withLock { $0.resume = resume }
        switch headerAuth {
        case .absent:
            deadlines.expectAuthentication(within: gateway.settings.authTimeout) { [weak self] in self?.session != nil }
        case .invalid: outbox.close(code: CloseCode.unauthenticated, reason: "invalid token")
        case .valid(let identity): enqueue(.start(identity))
        }
    }

    /// A whole text message from the client.
    func received(_ text: String) {
        let decoded = ClientFrame.decode(text)
        // Behind a message that waits, this one waits too: replies keep their order.
        guard !isBusy else { return enqueue(.message(decoded)) }
        let remainder = screen(decoded)
        if case .done = remainder { return }
        enqueue(.remainder(remainder))
    }

    func receivedBinary() {
        reply(ServerFrame.error(re: nil, .invalidRequest("binary frames are not supported: send JSON in text frames")))
        misused()
    }

    var isBusy: Bool {
        work.withLock { $0.running }
    }

    /// After the drain, which has told signed-in sessions.
    func serverStopping() {
        if session != nil {
            drain()
        } else {
            outbox.close(code: CloseCode.goingAway, reason: "server shutting down")
        }
    }

    func ended() {
        let previous = phase.withLock { phase in
            defer { phase = .ended }
            return phase
        }
        if case .ended = previous { return }
        deadlines.stop()
        if case .authenticated(let session, _) = previous { chat.presence.sessionClosed(session) }
        outbox.finish()
        work.withLock { $0.resume = nil }
    }

    // MARK: Working through messages

    private func enqueue(_ job: Job) {
        let start = work.withLock { work -> Bool in
            work.queue.append(job)
            guard !work.running else { return false }
            work.running = true
            return true
        }
        guard start else { return }
        _Concurrency.Task { await runQueue() }
    }

    private func runQueue() async {
        while let job = work.withLock({ work -> Job? in
            if let job = work.queue.popFirst() { return job }
            work.running = false
            // An idle connection keeps no queue storage.
            work.queue = []
            return nil
        }) {
            switch job {
            case .start(let identity): await start(identity)
            case .message(let decoded): await finish(screen(decoded))
            case .remainder(let remainder): await finish(remainder)
            }
        }
        work.withLock { $0.resume }?()
    }

    /// Registers the session with the hub, then sends `ready`. Registering
    /// first means no message committed after the snapshot can be missed;
    /// one committed in between may arrive both live and within `last_seq`,
    /// which clients de-duplicate by seq. Events wait behind `ready`.
    private func start(_ identity: Identity) async {
        if gateway.drain.isDraining {
            outbox.close(code: CloseCode.goingAway, reason: "server shutting down")
            return
        }
        if let until = gateway.bans.bannedUntil(identity.account.key) {
            outbox.close(code: CloseCode.banned, reason: "banned for flooding until \(until)")
            return
        }
        let session = ClientSession(
            id: OpaqueID.make(), account: identity.account, tokenID: identity.tokenID, outbox: outbox,
            onDrain: { [weak self] in self?.drain() })
        outbox.hold()
        guard chat.presence.sessionOpened(session, maxSessions: abuse.maxSessionsPerUser) else {
            outbox.close(
                code: CloseCode.policyViolation, reason: "too many sessions: at most \(abuse.maxSessionsPerUser) per user",
                discardingQueued: true)
            return
        }
        let live = phase.withLock { phase -> Bool in
            guard case .awaitingAuth = phase else { return false }
            phase = .authenticated(session, identity)
            return true
        }
        guard live else {
            // The socket closed while this was signing in.
            chat.presence.sessionClosed(session)
            return
        }
        deadlines.watch(until: identity.expiresTS)
        // A drain that began while registering may have missed this session.
        if gateway.drain.isDraining { drain() }
        // A revocation that landed between the token check and registering
        // found no session to close: look again now that there is one.
        if gateway.tokens.isRevoked(identity.tokenID) {
            outbox.close(code: CloseCode.unauthenticated, reason: "token revoked", discardingQueued: true)
            return
        }
        do {
            let marks = try await chat.store.readMarks(of: identity.account.key)
            outbox.release(first: ServerFrame.ready(sessionID: session.id, user: identity.account.user, marks: marks))
        } catch {
            logger.error("cannot load the session snapshot", metadata: ["error": "\(error)"])
            outbox.close(code: CloseCode.serverError, reason: "server error", discardingQueued: true)
        }
    }

    private func reply(_ frame: WireFrame) {
        outbox.send(frame)
    }

    /// Does what a message needs that takes no waiting (decoding errors,
    /// limits, sends with room in their window, pings) and returns the rest.
    private func screen(_ decoded: Decoded) -> Remainder {
        // Closing: the client's requests are no longer answered.
        if outbox.isClosing { return .done }
        let frame: ClientFrame
        switch decoded {
        case .success(let decoded): frame = decoded
        case .failure(let failure):
            reply(ServerFrame.error(re: failure.re, failure.error))
            misused()
            return .done
        }
        guard let (session, _) = session else { return .signIn(frame) }
        // Draining: the notice said so; answering every further frame would
        // only queue replies ahead of the close.
        if isDraining.load(ordering: .acquiring) { return .done }
        // Sends have their own limit, per user; everything else this one.
        if frame.type != "send", let wait = conduct.withLock({ $0.admitRequest() }) {
            // Typing is best effort: a dropped one needs no answer.
            if frame.type != "typing" {
                reply(ServerFrame.error(re: frame.id, .rateLimited("too many requests on this socket: slow down", retryAfter: wait)))
            }
            refused(session)
            return .done
        }
        switch frame.type {
        case "send" where sendWindow.tryAcquire():
            submit(frame, session: session)
        case "ping":
            reply(ServerFrame.pong(re: frame.id))
        default:
            return .perform(frame, session)
        }
        return .done
    }

    private func finish(_ remainder: Remainder) async {
        switch remainder {
        case .done: return
        case .signIn(let frame): await authenticate(frame)
        case .perform(let frame, let session):
            do {
                try await dispatch(frame, session: session)
            } catch {
                reply(ServerFrame.error(re: frame.id, ChatError.from(error, logger: logger)))
            }
        }
    }

    private func authenticate(_ frame: ClientFrame) async {
        guard frame.type == "auth" else {
            reply(ServerFrame.error(re: frame.id, ChatError(.unauthorized, "authenticate first: {\"type\":\"auth\",\"token\":\"...\"}")))
            return
        }
        guard let token = frame.token else {
            reply(ServerFrame.error(re: frame.id, .invalidRequest("token is required")))
            return
        }
        do {
            await start(try await gateway.tokens.authenticate(token))
        } catch {
            outbox.close(code: CloseCode.unauthenticated, reason: "invalid token")
        }
    }

    private func dispatch(_ frame: ClientFrame, session: ClientSession) async throws {
        let account = session.account
        switch frame.type {
        case "send":
            await sendWindow.acquire()
            submit(frame, session: session)
        case "history":
            let conversationID = try frame.require(frame.conversationID, "conversation_id")
            let page = try await chat.history(
                conversationID: conversationID, viewer: account, after: frame.after, before: frame.before,
                sinceTS: frame.sinceTS, limit: frame.limit)
            reply(ServerFrame.history(re: frame.id, conversationID: conversationID, page: page, viewer: account.user))
        case "read":
            _ = try await chat.markRead(conversationID: frame.conversationID, reader: account, seq: frame.seq, origin: session.id)
            reply(ServerFrame.ok(re: frame.id))
        case "typing":
            try await chat.typing(conversationID: frame.conversationID, from: account)
        case "presence":
            let users = try await chat.presence(of: frame.userIDs, viewer: account)
            reply(ServerFrame.presenceState(re: frame.id, users))
        case "auth":
            throw ChatError.invalidRequest("this socket is already authenticated")
        default:
            misused()
            throw ChatError.invalidRequest("unknown frame type '\(frame.type.prefix(64))'")
        }
    }

    /// Hands a send to the store, its window slot taken; the commit's
    /// outcome is the reply.
    private func submit(_ frame: ClientFrame, session: ClientSession) {
        let outbox = self.outbox, window = sendWindow, re = frame.id, logger = self.logger
        chat.send(
            conversationID: frame.conversationID, text: frame.text, clientID: frame.clientID, from: session.account,
            origin: session.id
        ) { result in
            // Queued before the slot is freed: a drain waiting for the
            // window to empty closes the socket after this reply.
            defer { window.release() }
            switch result {
            case .success(let outcome): outbox.send(ServerFrame.ack(re: re, outcome: outcome))
            case .failure(let error):
                let refusal = ChatError.from(error, logger: logger)
                outbox.send(ServerFrame.error(re: re, refusal))
                if refusal.code == .rateLimited { self.refused(session) }
            }
        }
    }

    // MARK: Draining

    /// Tells the client, stops taking requests, waits for the sends already
    /// on their way to disk to be acknowledged, then closes with 1001.
    private func drain() {
        guard !isDraining.exchange(true, ordering: .acquiringAndReleasing) else { return }
        outbox.send(ServerFrame.notice(code: "draining", message: "the server is shutting down: reconnect in a moment"))
        let outbox = self.outbox, window = sendWindow
        _Concurrency.Task {
            await window.waitUntilIdle()
            outbox.close(code: CloseCode.goingAway, reason: "server shutting down")
        }
    }

    // MARK: Conduct

    /// A frame was refused for its rate. Past the strike limit the socket is
    /// closed (4429), and enough such closes ban the user.
    private func refused(_ session: ClientSession) {
        guard conduct.withLock({ $0.refused() }) == .flooding, !outbox.isClosing else { return }
        outbox.close(code: CloseCode.flooding, reason: "kept sending after rate_limited errors")
        let bans = gateway.bans, broker = chat.broker, user = session.account.key, logger = self.logger
        _Concurrency.Task {
            do {
                guard let until = try await bans.recordFlood(user) else { return }
                logger.notice("banned a user for flooding", metadata: ["until": "\(until)"])
                broker.publish(.userBanned(user, until: until))
            } catch {
                logger.error("cannot store a ban", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A frame could not be used at all. Past the warning limit the socket
    /// is closed (4400).
    private func misused() {
        guard conduct.withLock({ $0.misused() }) == .misusing else { return }
        outbox.close(code: CloseCode.protocolMisuse, reason: "too many frames that are not valid requests")
    }
}

/// Bounds the sends of one session that wait for their commit: the reader
/// waits here instead of queueing without limit.
final class SendWindow: Sendable {
    private struct State {
        var inFlight = 0
        var waiter: CheckedContinuation<Void, Never>?
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot if one is free.
    func tryAcquire() -> Bool {
        state.withLock { state in
            guard state.inFlight < limit else { return false }
            state.inFlight += 1
            return true
        }
    }

    /// Only the connection's task calls this, so there is at most one waiter.
    func acquire() async {
        await withCheckedContinuation { continuation in
            let admitted = state.withLock { state in
                if state.inFlight < limit {
                    state.inFlight += 1
                    return true
                }
                state.waiter = continuation
                return false
            }
            if admitted { continuation.resume() }
        }
    }

    func release() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if let waiter = state.waiter {
                // The slot passes straight to the waiting reader.
                state.waiter = nil
                return [waiter]
            }
            state.inFlight -= 1
            guard state.inFlight == 0 else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Returns once no send is waiting for its commit.
    func waitUntilIdle() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state in
                guard state.inFlight > 0 else { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}
