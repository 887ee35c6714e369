import Hummingbird
import HummingbirdCore
import Logging
import ParleyCore
import ParleyStore
import ServiceLifecycle

/// Builds the Parley application around `store`: the hub, the HTTP routes
/// and the WebSocket gateway, wired together. `parley serve` runs it with
/// the store `--database` names; tests run it too.
///
/// The application owns the store from here: it closes it when it stops,
/// or at once if building fails. The hub subscribes to the store's broker
/// (with the token and ban lists, `NodeEventHandler`), so it delivers what
/// the store and the service publish, on this node and the others.
public func buildApplication(
    _ configuration: ServerConfiguration,
    store: any ChatStore,
    logger: Logger = Logger(label: "parley"),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> ParleyApplication {
    let now: @Sendable () -> Millis = SystemClock.millis
    let hub = Hub(countsSessions: store.countsSessionsAcrossNodes)
    let secret: [UInt8]
    let tokens: TokenAuthority
    let bans: BanList
    do {
        secret = try await SigningSecret.resolve(configured: configuration.jwtSecret, keyFile: configuration.signingKeyPath, store: store)
        let product = await configuration.productTokens.asyncMap { await ProductTokens(settings: $0, logger: logger) }
        tokens = try await TokenAuthority.make(
            secret: secret, store: store, lifetime: Millis(configuration.tokenLifetime.components.seconds) * 1000, now: now,
            product: product, limits: configuration.limits)
        bans = try await BanList.load(store: store, controls: configuration.abuse, now: now)
    } catch {
        try? await store.close()
        throw error
    }
    // After the lists are loaded: what is revoked or banned from here on
    // reaches them through the broker.
    store.broker.subscribe(NodeEventHandler(hub: hub, tokens: tokens, bans: bans))
    let abuse = configuration.abuse
    let presence = PresenceAnnouncer(hub: hub, store: store, maxSessions: abuse.maxSessionsPerUser, now: now, logger: logger)
    let chat = ChatService(
        store: store, hub: hub, presence: presence,
        cursors: CursorSeal(secret: secret), limits: configuration.limits,
        sendLimiter: SendLimiter(rate: abuse.sendRate, burst: abuse.sendBurst), content: abuse.content)

    let shutdown = GracefulShutdown(hub: hub, deadline: configuration.drainDeadline, logger: logger)
    let router = Router(context: ParleyRequestContext.self)
    router.add(middleware: ClientAddressMiddleware(proxies: abuse.trustedProxies))
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: HealthMiddleware(readiness: ReadinessProbe(store: store, shutdown: shutdown, now: now)))
    router.add(middleware: ShutdownMiddleware(shutdown: shutdown))
    router.add(middleware: BodyLimitMiddleware(maxBytes: configuration.maxFrameBytes))
    router.add(middleware: BodyDeadlineMiddleware(timeout: configuration.requestBodyTimeout))
    BrowserClient.add(to: router, directory: configuration.publicDirectory, logger: logger)
    router.get("/v1/ws") { _, _ -> Response in
        throw ChatError(.invalidRequest, "this endpoint only accepts WebSocket upgrades")
    }
    let api = router.group("v1")
    let authenticated = api.group().add(middleware: AuthMiddleware(tokens: tokens, bans: bans))
    AccountController(
        store: store, tokens: tokens,
        passwords: PasswordHasher(
            cost: configuration.bcryptCost,
            queue: HashingQueue(workers: abuse.hashWorkers, maxWaitingLogIns: abuse.waitingLogIns, maxWaitingSignUps: abuse.waitingSignUps)),
        limits: configuration.limits, passwordAccounts: configuration.passwordAccounts, logins: LoginThrottle(limit: abuse.loginFailures, window: abuse.loginWindow),
        signUps: SignupLimiter(limit: abuse.signupRate),
        loginCodes: configuration.mail.map { LoginCodes(store: store, mailer: SMTPMailer(settings: $0), secret: secret, now: now, logger: logger) }
    ).addRoutes(public: api, authenticated: authenticated)
    ConversationController(chat: chat).addRoutes(to: authenticated)
    if let serviceKey = configuration.serviceKey {
        ServiceController(
            store: store, chat: chat, tokens: tokens, limits: configuration.limits,
            maxTokenLifetime: Millis(configuration.tokenLifetime.components.seconds) * 1000, now: now, logger: logger
        ).addRoutes(to: api.group("service").add(middleware: ServiceKeyMiddleware(key: serviceKey)))
    }
    UserController(chat: chat).addRoutes(to: authenticated)

    let gateway = WebSocketGateway(
        chat: chat, tokens: tokens, bans: bans, shutdown: shutdown,
        settings: .init(
            authTimeout: configuration.authTimeout, maxFrameBytes: configuration.maxFrameBytes,
            maxQueuedBytes: configuration.maxQueuedBytes, abuse: abuse),
        now: now)

    let application = Application(
        router: router,
        server: HTTPServerBuilder { responder in
            GatewayChildChannel(
                responder: responder, gateway: gateway, headTimeout: configuration.requestHeadTimeout, idleTimeout: .seconds(120))
        },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Parley"),
        // Stopped in reverse order: the heartbeat before the store closes.
        services: [StoreService(store: store), NodeHeartbeat(store: store, hub: hub, presence: presence, logger: logger)],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger)
    return ParleyApplication(application: application, shutdown: shutdown, logger: logger)
}
