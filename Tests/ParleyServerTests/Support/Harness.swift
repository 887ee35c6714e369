import Foundation
import Hummingbird
import AsyncHTTPClient
import HTTPTypes
import NIOHTTP1
import ServiceLifecycle
import Logging
import NIOCore
import ParleyServer
import ParleyStore
import Testing

/// The application `parley serve` builds for `configuration`: on the store
/// its `databasePath` names (a SQLite file, or a PostgreSQL database when
/// the suites run with `PARLEY_TEST_STORE=postgres`).
func buildApplication(
    _ configuration: ServerConfiguration, logger: Logger = Logger(label: "parley-test"),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> ParleyApplication {
    let store = try await DatabaseLocation(configuration.databasePath).open(limits: configuration.limits, logger: logger)
    return try await ParleyServer.buildApplication(configuration, store: store, logger: logger, onServerRunning: onServerRunning)
}

/// A fresh database directory and a configuration pointing into it.
///
/// The store is the one the run asks for: SQLite, or a fresh PostgreSQL
/// database when `PARLEY_TEST_STORE=postgres` (scripts/test runs the HTTP
/// and WebSocket suites both ways). Tests about SQLite's own files ask for
/// `.sqlite` whatever the run.
struct TestDatabase: ~Copyable {
    enum Store {
        case sqlite
        /// The store this run of the suites is for.
        case chosen
    }

    let directory: URL
    var configuration: ServerConfiguration
    /// The scratch PostgreSQL database, dropped with this value.
    let postgres: ScratchPostgres?

    static let jwtSecret = "test-secret-that-is-long-enough-for-hs256!"

    init(_ store: Store = .chosen) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-test-\(UUID().uuidString)")
        let postgres = store == .chosen && ScratchPostgres.isChosen ? try await ScratchPostgres() : nil
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.postgres = postgres
        configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.databasePath = postgres?.url ?? directory.appendingPathComponent("parley.sqlite").path
        configuration.jwtSecret = Self.jwtSecret
        // bcrypt's minimum: hundreds of sign-ups at cost 10 in a debug build,
        // queued on NIO's blocking pool, push requests past the test client's
        // timeout (SetupTests checks that the configured cost is applied).
        configuration.bcryptCost = 4
        // Suites that are not about abuse controls send fast and fail logins
        // on purpose; AbuseTests turns the limits on.
        configuration.abuse.sendRate = 0
        configuration.abuse.requestRate = 0
        configuration.abuse.loginFailures = 1_000
        // Suites sign up dozens of users from 127.0.0.1, many at once, and
        // open sockets that sign in later; AbuseTests and
        // SecurityReviewTests turn these limits on.
        configuration.abuse.signupRate = 0
        configuration.abuse.waitingSignUps = 10_000
        configuration.abuse.waitingLogIns = 10_000
        configuration.abuse.maxUnauthenticated = 0
        // The suites share this process's task threads with the server: a
        // busy moment must not look like a dead client. KeepaliveTests turn
        // pings on.
        configuration.abuse.pingInterval = .zero
    }

    /// Whether the server runs on SQLite, whose files tests may look at.
    var isSQLite: Bool { postgres == nil }

    deinit {
        try? FileManager.default.removeItem(at: directory)
        postgres?.drop()
    }
}

/// A user created through the API.
struct TestUser: Sendable {
    let id: String
    let handle: String
    let token: String
}

/// A running server and an HTTP client for it.
///
/// HTTP goes through AsyncHTTPClient, whose deadlines fail a request rather
/// than leave it waiting. (HummingbirdTesting's live client was tried first:
/// on this 2-core machine, a request that hit its timeout hung the test, and
/// a test that ended before the client had connected left a connection open
/// that the server's graceful shutdown then waited for forever.)
struct Harness: Sendable {
    typealias Transport = @Sendable (HTTPRequest.Method, String, HTTPFields, ByteBuffer?) async throws -> (HTTPResponse.Status, HTTPFields, ByteBuffer)

    static let requestTimeout: TimeAmount = .seconds(30)

    let port: Int
    let transport: Transport

    init(port: Int, transport: @escaping Transport) {
        self.port = port
        self.transport = transport
    }

    /// A harness for a server on `port`, sending through `client`.
    init(port: Int, client: HTTPClient = .shared, closeAfterEachRequest: Bool = false) {
        self.init(port: port) { method, path, fields, body in
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = HTTPMethod(rawValue: method.rawValue)
            for field in fields { request.headers.add(name: field.name.rawName, value: field.value) }
            if closeAfterEachRequest { request.headers.replaceOrAdd(name: "connection", value: "close") }
            if let body { request.body = .bytes(body) }
            let response = try await client.execute(request, timeout: Self.requestTimeout)
            let bytes = try await response.body.collect(upTo: 16 << 20)
            var headers = HTTPFields()
            for (name, value) in response.headers {
                if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
            }
            return (HTTPResponse.Status(code: Int(response.status.code)), headers, bytes)
        }
    }

    /// Runs `body` against a live server on a loopback port, then shuts the
    /// server down gracefully, as SIGTERM would.
    static func live<T: Sendable>(
        _ configuration: ServerConfiguration, _ body: @Sendable (Harness) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "parley-test")
        logger.logLevel = .warning
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = try await buildApplication(configuration, logger: logger) { port in portSink.yield(port) }
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await services.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TestFailure("the server did not start") }
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let result: Result<T, any Error>
            do {
                result = .success(try await body(Harness(port: port, client: client)))
            } catch {
                result = .failure(error)
            }
            // Close the client's connections first: graceful shutdown waits for them.
            try await client.shutdown()
            await services.triggerGracefulShutdown()
            while try await group.next() != nil {}
            return try result.get()
        }
    }

    static func live<T: Sendable>(_ body: @Sendable (Harness) async throws -> T) async throws -> T {
        let database = try await TestDatabase()
        return try await live(database.configuration, body)
    }

    struct Reply: Sendable {
        let status: HTTPResponse.Status
        /// The parsed body; `.null` when it is empty or not JSON.
        let body: JSON
        /// The exact bytes, for comparing bodies and checking empty ones.
        let raw: String
        let headers: HTTPFields
    }

    func request(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: [String: Any]? = nil, rawBody: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
            headers[.contentType] = "application/json"
        } else if let rawBody {
            body = ByteBuffer(string: rawBody)
        }
        let (status, responseHeaders, responseBody) = try await transport(method, path, headers, body)
        let raw = String(buffer: responseBody)
        return Reply(status: status, body: (try? JSON.parse(raw)) ?? .null, raw: raw, headers: responseHeaders)
    }

    func signUp(_ handle: String, displayName: String? = nil, password: String = "correct horse battery") async throws -> TestUser {
        var body: [String: Any] = ["handle": handle, "password": password]
        if let displayName { body["display_name"] = displayName }
        let reply = try await request(.post, "/v1/accounts", json: body)
        guard reply.status == .created, let id = reply.body["user"]["id"].string, let token = reply.body["token"].string else {
            throw TestFailure("sign-up of \(handle) failed: \(reply.status) \(reply.body)")
        }
        return TestUser(id: id, handle: handle, token: token)
    }

    func logIn(_ handle: String, password: String = "correct horse battery") async throws -> String {
        let reply = try await request(.post, "/v1/tokens", json: ["handle": handle, "password": password])
        guard reply.status == .ok, let token = reply.body["token"].string else {
            throw TestFailure("log-in of \(handle) failed: \(reply.status) \(reply.body)")
        }
        return token
    }

    /// Opens (or finds) the direct conversation and returns its id.
    func direct(_ owner: TestUser, _ other: TestUser) async throws -> String {
        let reply = try await request(.post, "/v1/conversations", token: owner.token, json: ["kind": "direct", "with": other.id])
        guard let id = reply.body["conversation"]["id"].string else {
            throw TestFailure("direct conversation failed: \(reply.status) \(reply.body)")
        }
        return id
    }

    /// Alice and Bob, signed up, and their direct conversation.
    func pair() async throws -> (alice: TestUser, bob: TestUser, conversation: String) {
        let alice = try await signUp("alice")
        let bob = try await signUp("bob")
        return (alice, bob, try await direct(alice, bob))
    }

    func group(_ owner: TestUser, title: String = "Team", members: [TestUser]) async throws -> String {
        let reply = try await request(
            .post, "/v1/conversations", token: owner.token, json: ["kind": "group", "title": title, "members": members.map(\.id)])
        guard reply.status == .created, let id = reply.body["conversation"]["id"].string else {
            throw TestFailure("group creation failed: \(reply.status) \(reply.body)")
        }
        return id
    }

    func socket(_ user: TestUser, ignoring ignored: Set<String> = TestSocket.notAboutPresence) async throws -> (TestSocket, JSON) {
        try await TestSocket.ready(port: port, token: user.token, ignoring: ignored)
    }

    func history(_ user: TestUser, _ conversation: String, query: String = "after=0&limit=200") async throws -> [JSON] {
        let reply = try await request(.get, "/v1/conversations/\(conversation)/messages?\(query)", token: user.token)
        guard reply.status == .ok else { throw TestFailure("history failed: \(reply.status) \(reply.body)") }
        return reply.body["messages"].array
    }

    /// Every message of a conversation, page after page of 200.
    func wholeHistory(_ user: TestUser, _ conversation: String) async throws -> [JSON] {
        var messages: [JSON] = []
        var after = 0
        while true {
            let page = try await history(user, conversation, query: "after=\(after)&limit=200")
            guard let last = page.last?["seq"].int else { return messages }
            messages += page
            after = last
        }
    }
}

/// True for ids the server hands out: 22 characters of base64url.
func isOpaqueID(_ value: JSON) -> Bool {
    guard let string = value.string, string.count == 22 else { return false }
    return string.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
}
