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
/// holds no task: its outbox is written out by its `SocketWriter` and its
/// deadlines are timers, all on the event loop.
final class GatewayConnection: MessageReceiver {
    enum HeaderAuth: Sendable {
        case absent
        case invalid
        case valid(Identity)
    }

    private let gateway: WebSocketGateway
    private let logger: Logger
    private let outbox: Outbox
    /// Everything about the connection that changes, behind one lock.
    private let state: Mutex<ConnectionStateMachine>
    /// Its clocks: timers on the event loop.
    private let deadlines: ConnectionDeadlines
    /// Its place among its address's sockets still signing in, freed at sign-in or close.
    private let unauthenticated: UnauthenticatedSockets.Slot?

    init(
        gateway: WebSocketGateway, liveness: Liveness, outbox: Outbox, eventLoop: any EventLoop,
        unauthenticated: UnauthenticatedSockets.Slot? = nil, logger: Logger
    ) {
        self.gateway = gateway
        self.unauthenticated = unauthenticated
        self.logger = logger
        self.outbox = outbox
        self.deadlines = ConnectionDeadlines(
            eventLoop: eventLoop, outbox: outbox, liveness: liveness, pingInterval: gateway.settings.abuse.pingInterval,
            now: gateway.now)
        self.state = Mutex(
            ConnectionStateMachine(maxSendsInFlight: gateway.settings.maxSendsInFlight, conduct: ConnectionGuard(gateway.settings.abuse)))
    }

    private var abuse: AbuseControls { gateway.settings.abuse }

    private var chat: ChatService { gateway.chat }

    // MARK: The reader's side (on the socket's event loop)

    /// The socket is upgraded. `resume` must make the reader read again.
    func open(_ headerAuth: HeaderAuth, resume: @escaping @Sendable () -> Void) {
        state.withLock { $0.opened(resumeReading: resume) }
        switch headerAuth {
        case .absent:
            deadlines.expectAuthentication(within: gateway.settings.authTimeout) { [weak self] in
                self?.state.withLock { $0.session } != nil
            }
        case .invalid: outbox.close(code: CloseCode.unauthenticated, reason: "invalid token")
        case .valid(let identity):
            if state.withLock({ $0.signIn(identity) }) { startWorking() }
        }
    }

    /// A whole text message from the client.
    func received(_ text: String) {
        let decoded = ClientFrame.decode(text)
        let closing = outbox.isClosing
        switch state.withLock({ $0.received(decoded, closing: closing, now: .now) }) {
        case .now(let screened): carryOut(screened)
        case .queued: break
        case .startWorking: startWorking()
        }
    }

    func receivedBinary() {
        guard !outbox.isClosing else { return }
        reply(ServerFrame.error(re: nil, .invalidRequest("binary frames are not supported: send JSON in text frames")))
        if state.withLock({ $0.binaryReceived(now: .now) }) == .misusing { closeForMisuse() }
    }

    var isBusy: Bool {
        state.withLock { $0.isWorking }
    }

    /// After the drain, which has told signed-in sessions.
    func serverStopping() {
        switch state.withLock({ $0.serverStopping() }) {
        case .drain: drained()
        case .closeUnsigned: outbox.close(code: CloseCode.goingAway, reason: "server shutting down")
        case .none: break
        }
    }

    func ended() {
        unauthenticated?.release()
        let action = state.withLock { $0.ended() }
        if case .none = action { return }
        deadlines.stop()
        if case .unregister(let session) = action { chat.presence.sessionClosed(session) }
        outbox.finish()
    }

    // MARK: Working through requests

    private func startWorking() {
        _Concurrency.Task { await work() }
    }

    /// The connection's task: works through the queue, in order, and ends
    /// when it is empty, letting the reader read the socket again.
    private func work() async {
        while true {
            switch state.withLock({ $0.nextJob() }) {
            case .job(.start(let identity)): await start(identity)
            case .job(.request(let decoded)):
                let closing = outbox.isClosing
                let screened = state.withLock { $0.screen(decoded, closing: closing, now: .now) }
                if case .wait(let waiting) = screened {
                    await perform(waiting)
                } else {
                    carryOut(screened)
                }
            case .job(.wait(let waiting)): await perform(waiting)
            case .idle(let resumeReading):
                resumeReading?()
                return
            }
        }
    }

    /// Does what a screened request needs that takes no waiting.
    private func carryOut(_ screened: ConnectionStateMachine.Screened) {
        switch screened {
        case .ignore, .wait: break
        case .undecodable(let failure, let misuse):
            reply(ServerFrame.error(re: failure.re, failure.error))
            if misuse == .misusing { closeForMisuse() }
        case .tooManyBeforeAuth:
            outbox.close(code: CloseCode.protocolMisuse, reason: "too many frames before auth")
        case .rateLimited(let request, let wait, let verdict, let session):
            // Typing is best effort: a dropped one needs no answer.
            if request.kind != .typing {
                reply(ServerFrame.error(re: request.id, .rateLimited("too many requests on this socket: slow down", retryAfter: wait)))
            }
            if verdict == .flooding { closeForFlooding(session) }
        case .submit(let send, let re, let session): submit(send, re: re, session: session)
        case .refuseSend(let error, let re, let session): refuseSend(error, re: re, session: session)
        case .pong(let re): reply(ServerFrame.pong(re: re))
        }
    }

    private func perform(_ waiting: ConnectionStateMachine.Waiting) async {
        switch waiting {
        case .signIn(let request): await authenticate(request)
        case .perform(let request, let session):
            do {
                try await dispatch(request, session: session)
            } catch {
                reply(ServerFrame.error(re: request.id, ChatError.from(error, logger: logger)))
            }
        }
    }

    /// Once the node has room to start a session (`SessionStartGate`),
    /// registers it with the hub, waits until the store has the
    /// user online here, then sends `ready`. Registering
    /// first means no message committed after the snapshot can be missed;
    /// one committed in between may arrive both live and within `last_seq`,
    /// which clients de-duplicate by seq. Events wait behind `ready`.
    private func start(_ identity: Identity) async {
        guard await gateway.sessionStarts.enter() else {
            outbox.close(code: CloseCode.tryAgainLater, reason: "server busy: retry in \(SessionStartGate.retryAfterMs()) ms")
            return
        }
        await startAdmitted(identity)
        gateway.sessionStarts.leave()
    }

    private func startAdmitted(_ identity: Identity) async {
        if gateway.shutdown.isUnderWay {
            outbox.close(code: CloseCode.goingAway, reason: "server shutting down")
            return
        }
        if let until = gateway.bans.bannedUntil(identity.account.key) {
            outbox.close(code: CloseCode.banned, reason: "banned until \(until)")
            return
        }
        let session = ClientSession(
            id: OpaqueID.make(), account: identity.account, tokenID: identity.tokenID, outbox: outbox,
            onDrain: { [weak self] in self?.drain() })
        outbox.hold()
        let tooMany = "too many sessions: at most \(abuse.maxSessionsPerUser) per user"
        guard chat.presence.sessionOpened(session) else {
            outbox.close(code: CloseCode.policyViolation, reason: tooMany, discardingQueued: true)
            return
        }
        guard state.withLock({ $0.signedIn(session) }) else {
            // The socket closed while this was signing in.
            chat.presence.sessionClosed(session)
            return
        }
        // With several nodes, the user's sessions on the others count too.
        switch await chat.hub.admission(of: session) {
        case .admitted:
            break
        case .tooManySessions:
            outbox.close(code: CloseCode.policyViolation, reason: tooMany, discardingQueued: true)
            return
        case .unavailable:
            outbox.close(
                code: CloseCode.tryAgainLater, reason: "server busy: retry in \(SessionStartGate.retryAfterMs()) ms", discardingQueued: true)
            return
        case .closed:
            return
        }
        unauthenticated?.release()
        deadlines.watch(until: identity.expiresTS)
        // A drain that began while registering may have missed this session.
        if gateway.shutdown.isUnderWay { drain() }
        // A revocation that landed between the token check and registering
        // found no session to close: look again now that there is one.
        if gateway.tokens.isRevoked(identity.tokenID) {
            outbox.close(code: CloseCode.unauthenticated, reason: "token revoked", discardingQueued: true)
            return
        }
        await chat.hub.untilRecorded(identity.account.key)
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

    private func authenticate(_ request: ClientRequest) async {
        switch request.action {
        case .auth(let token):
            do {
                await start(try await gateway.tokens.authenticate(token))
            } catch {
                outbox.close(code: CloseCode.unauthenticated, reason: "invalid token")
            }
        case .malformed(.auth, let error):
            reply(ServerFrame.error(re: request.id, error))
        default:
            reply(ServerFrame.error(re: request.id, ChatError(.unauthorized, "authenticate first: {\"type\":\"auth\",\"token\":\"...\"}")))
        }
    }

    private func dispatch(_ request: ClientRequest, session: ClientSession) async throws {
        let account = session.account
        switch request.action {
        case .send(let send):
            await waitForSendSlot()
            submit(send, re: request.id, session: session)
        case .history(let query):
            let page = try await chat.history(query, viewer: account)
            reply(ServerFrame.history(re: request.id, conversationID: query.conversationID, page: page, viewer: account.user))
        case .read(let conversationID, let seq):
            _ = try await chat.markRead(conversationID: conversationID, reader: account, seq: seq, origin: session.id)
            reply(ServerFrame.ok(re: request.id))
        case .typing(let conversationID):
            try await chat.typing(conversationID: conversationID, from: account)
        case .presence(let userIDs):
            let users = try await chat.presence(of: userIDs, viewer: account)
            reply(ServerFrame.presenceState(re: request.id, users))
        case .auth, .malformed(.auth, _):
            throw ChatError.invalidRequest("this socket is already authenticated")
        case .malformed(.send, let error):
            refuseSend(error, re: request.id, session: session)
        case .malformed(_, let error):
            throw error
        case .ping:
            reply(ServerFrame.pong(re: request.id))
        case .unknown(let type):
            misused()
            throw ChatError.invalidRequest("unknown frame type '\(type.prefix(64))'")
        }
    }

    /// A send whose fields are wrong: refused at once, counted like a send.
    private func refuseSend(_ error: ChatError, re: String?, session: ClientSession) {
        let refusal = chat.refuseSend(error, from: session.account)
        reply(ServerFrame.error(re: re, refusal))
        if refusal.code == .rateLimited { refused(session) }
    }

    private func waitForSendSlot() async {
        await withCheckedContinuation { waiter in
            if state.withLock({ $0.waitForSendSlot(waiter) }) { waiter.resume() }
        }
    }

    /// Hands a send to the store, its window slot taken; the commit's
    /// outcome is the reply.
    private func submit(_ send: SendRequest, re: String?, session: ClientSession) {
        let outbox = self.outbox, logger = self.logger
        chat.send(send, from: session.account, origin: session.id) { result in
            // Queued before the slot is freed: a drain waiting for the
            // window to empty closes the socket after this reply.
            defer { self.state.withLock { $0.sendAnswered() }.forEach { $0.resume() } }
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
        guard state.withLock({ $0.drain() }) else { return }
        drained()
    }

    /// The session is draining: the notice, then the close once no send is in flight.
    private func drained() {
        outbox.send(ServerFrame.notice(code: "draining", message: "the server is shutting down: reconnect in a moment"))
        _Concurrency.Task {
            await withCheckedContinuation { waiter in
                if state.withLock({ $0.waitForSendsAnswered(waiter) }) { waiter.resume() }
            }
            outbox.close(code: CloseCode.goingAway, reason: "server shutting down")
        }
    }

    // MARK: Conduct

    /// A frame was refused for its rate. Past the strike limit the socket is
    /// closed (4429), and enough such closes ban the user.
    private func refused(_ session: ClientSession) {
        guard state.withLock({ $0.refused(now: .now) }) == .flooding else { return }
        closeForFlooding(session)
    }

    private func closeForFlooding(_ session: ClientSession) {
        guard !outbox.isClosing else { return }
        outbox.close(code: CloseCode.flooding, reason: "kept sending after rate_limited errors")
        let bans = gateway.bans, user = session.account.key, logger = self.logger
        _Concurrency.Task {
            do {
                guard let until = try await bans.recordFlood(user) else { return }
                // Stored and published by the store: every node closes the user's sockets.
                logger.notice("banned a user for flooding", metadata: ["until": "\(until)"])
            } catch {
                logger.error("cannot store a ban", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A frame could not be used at all. Past the warning limit the socket
    /// is closed (4400).
    private func misused() {
        guard state.withLock({ $0.misused(now: .now) }) == .misusing else { return }
        closeForMisuse()
    }

    private func closeForMisuse() {
        outbox.close(code: CloseCode.protocolMisuse, reason: "too many frames that are not valid requests")
    }
}
