import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ParleyCore
import ParleyStore
import Synchronization

/// One WebSocket connection: the connection's task reads client frames and
/// handles them in order. Everything else happens without a task of its own,
/// so an idle connection holds one suspended task: the session's outbox is
/// drained to the socket by its `SocketWriter` on the event loop, and the
/// connection's deadlines are timers there. The close frame goes through the
/// WebSocket library, which keeps the closing handshake.
final class GatewayConnection: Sendable {
    enum HeaderAuth: Sendable {
        case absent
        case invalid
        case valid(Identity)
    }

    private enum Phase {
        case awaitingAuth
        case authenticated(ClientSession, Identity)
    }

    private let gateway: WebSocketGateway
    private let logger: Logger
    private let outbox: Outbox
    private let phase = Mutex(Phase.awaitingAuth)
    private let sendWindow: SendWindow
    private let conduct: Mutex<ConnectionGuard>
    private let deadlines: ConnectionDeadlines
    private let isDraining = Atomic(false)
    private let readFailure = Mutex<(any Error)?>(nil)

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

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, headerAuth: HeaderAuth) async throws {
        let logger = self.logger
        outbox.whenCloseReady { close in
            // Once, at the end: the one task a connection starts besides its own.
            _Concurrency.Task {
                do {
                    try await outbound.close(WebSocketErrorCode(codeNumber: Int(close.code)), reason: close.reason)
                } catch {
                    logger.debug("close failed", metadata: ["error": "\(error)"])
                }
            }
        }
        switch headerAuth {
        case .absent:
            deadlines.expectAuthentication(within: gateway.settings.authTimeout) { [weak self] in self?.session != nil }
        case .invalid: outbox.close(code: CloseCode.unauthenticated, reason: "invalid token")
        case .valid(let identity): await start(identity)
        }
        // Until the client answers our close frame, or the socket writer
        // drops a client that did not in time.
        await read(inbound)
        deadlines.stop()
        if let (session, _) = session {
            chat.presence.sessionClosed(session)
        }
        outbox.finish()
        if let failure = readFailure.withLock({ $0 }) { throw failure }
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
        phase.withLock { $0 = .authenticated(session, identity) }
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
            outbox.close(code: 1011, reason: "server error", discardingQueued: true)
        }
    }

    // MARK: Reading

    private func read(_ inbound: WebSocketInboundStream) async {
        do {
            for try await message in inbound.messages(maxSize: gateway.settings.maxFrameBytes) {
                // Closing: keep reading, without acting, until the client
                // answers our close frame; stopping now would cancel the
                // writer before the close frame (and its code) went out.
                if outbox.isClosing { continue }
                switch message {
                case .text(let text):
                    await handle(text)
                case .binary:
                    reply(ServerFrame.error(re: nil, .invalidRequest("binary frames are not supported: send JSON in text frames")))
                    misused()
                }
            }
        } catch {
            // The WebSocket library closes with the code this error carries
            // (1009 for a fragmented message too large, 1007 for bad UTF-8)
            // if the handler throws it on.
            logger.debug("read failed", metadata: ["error": "\(error)"])
            readFailure.withLock { $0 = error }
        }
    }

    private func reply(_ frame: WireFrame) {
        outbox.send(frame)
    }

    private func handle(_ text: String) async {
        let frame: ClientFrame
        switch ClientFrame.decode(text) {
        case .success(let decoded): frame = decoded
        case .failure(let failure):
            reply(ServerFrame.error(re: failure.re, failure.error))
            misused()
            return
        }
        guard let (session, _) = session else {
            await authenticate(frame)
            return
        }
        // Draining: the notice said so; answering every further frame would
        // only queue replies ahead of the close.
        if isDraining.load(ordering: .acquiring) { return }
        // Sends have their own limit, per user; everything else this one.
        if frame.type != "send", let wait = conduct.withLock({ $0.admitRequest() }) {
            // Typing is best effort: a dropped one needs no answer.
            if frame.type != "typing" {
                reply(ServerFrame.error(re: frame.id, .rateLimited("too many requests on this socket: slow down", retryAfter: wait)))
            }
            refused(session)
            return
        }
        do {
            try await dispatch(frame, session: session)
        } catch {
            reply(ServerFrame.error(re: frame.id, ChatError.from(error, logger: logger)))
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
            let outbox = self.outbox, window = sendWindow, re = frame.id, logger = self.logger
            chat.send(
                conversationID: frame.conversationID, text: frame.text, clientID: frame.clientID, from: account, origin: session
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
        case "history":
            let conversationID = try frame.require(frame.conversationID, "conversation_id")
            let page = try await chat.history(
                conversationID: conversationID, viewer: account, after: frame.after, before: frame.before,
                sinceTS: frame.sinceTS, limit: frame.limit)
            reply(ServerFrame.history(re: frame.id, conversationID: conversationID, page: page, viewer: account.user))
        case "read":
            _ = try await chat.markRead(conversationID: frame.conversationID, reader: account, seq: frame.seq, origin: session)
            reply(ServerFrame.ok(re: frame.id))
        case "typing":
            try await chat.typing(conversationID: frame.conversationID, from: account)
        case "presence":
            let users = try await chat.presence(of: frame.userIDs, viewer: account)
            reply(ServerFrame.presenceState(re: frame.id, users))
        case "ping":
            reply(ServerFrame.pong(re: frame.id))
        case "auth":
            throw ChatError.invalidRequest("this socket is already authenticated")
        default:
            misused()
            throw ChatError.invalidRequest("unknown frame type '\(frame.type.prefix(64))'")
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
        let bans = gateway.bans, hub = chat.hub, user = session.account.key, logger = self.logger
        _Concurrency.Task {
            do {
                guard let until = try await bans.recordFlood(user) else { return }
                logger.notice("banned a user for flooding", metadata: ["until": "\(until)"])
                hub.closeSessions(user: user, code: CloseCode.banned, reason: "banned for flooding until \(until)")
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

    /// Only the connection's reader calls this, so there is at most one waiter.
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
