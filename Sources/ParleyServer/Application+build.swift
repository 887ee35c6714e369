import Hummingbird
import HummingbirdWebSocket
import Logging
import ParleyCore
import ParleyStore
import ServiceLifecycle

/// Builds the Parley application: the store, the hub, the HTTP routes and the
/// WebSocket gateway, wired together. `parley serve` runs it; tests run it too.
public func buildApplication(
    _ configuration: ServerConfiguration,
    logger: Logger = Logger(label: "parley"),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let now: @Sendable () -> Millis = SystemClock.millis
    let hub = Hub()
    let store = try SQLiteChatStore(
        path: configuration.databasePath, limits: configuration.limits, now: now, listener: ConversationEvents(hub: hub))
    let secret: [UInt8]
    let tokens: TokenAuthority
    do {
        secret = try SigningSecret.resolve(configured: configuration.jwtSecret, databasePath: configuration.databasePath)
        tokens = try await TokenAuthority.make(
            secret: secret, store: store, lifetime: Millis(configuration.tokenLifetime.components.seconds) * 1000, now: now)
    } catch {
        try? await store.close()
        throw error
    }
    let chat = ChatService(
        store: store, hub: hub, presence: PresenceAnnouncer(hub: hub, store: store, now: now, logger: logger),
        cursors: CursorSeal(secret: secret), limits: configuration.limits)

    let router = Router(context: ParleyRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.get("/v1/ws") { _, _ -> Response in
        throw ChatError(.invalidRequest, "this endpoint only accepts WebSocket upgrades")
    }
    let api = router.group("v1")
    let authenticated = api.group().add(middleware: AuthMiddleware(tokens: tokens))
    AccountController(
        store: store, tokens: tokens, passwords: PasswordHasher(cost: configuration.bcryptCost), hub: hub,
        limits: configuration.limits
    ).addRoutes(public: api, authenticated: authenticated)
    ConversationController(chat: chat).addRoutes(to: authenticated)
    UserController(chat: chat).addRoutes(to: authenticated)

    let gateway = WebSocketGateway(
        chat: chat, tokens: tokens,
        settings: .init(
            authTimeout: configuration.authTimeout, maxFrameBytes: configuration.maxFrameBytes,
            maxQueuedBytes: configuration.maxQueuedBytes),
        now: now)

    return Application(
        router: router,
        server: .http1WebSocketUpgrade(
            configuration: .init(
                http1: .init(idleTimeout: .seconds(120)),
                ws: .init(maxFrameSize: configuration.maxFrameBytes, closeTimeout: .seconds(5))),
            shouldUpgrade: gateway.shouldUpgrade),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Parley"),
        services: [StoreService(store: store)],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger)
}

/// Closes the store, after queued writes commit, when the application stops.
struct StoreService: Service {
    let store: any ChatStore

    func run() async throws {
        try? await gracefulShutdown()
        try await store.close()
    }
}
