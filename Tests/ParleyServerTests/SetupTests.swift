import Foundation
import ParleyServer
import Logging
import NIOCore
import NIOPosix
import ParleyStore
import Testing
import ParleyBench

/// What happens on a fresh start: the signing key, password hashing, the
/// database lock, and the `parley` command's options.
@Suite("Set-up and the command", .serialized, .timeLimit(.minutes(2)))
struct SetupTests {
    @Test("without a configured secret, a signing key is made on first start, kept owner-only, and reused after a restart")
    func generatedKey() async throws {
        var database = try await TestDatabase(.sqlite)
        database.configuration.jwtSecret = nil
        let configuration = database.configuration
        let keyPath = configuration.databasePath + ".jwt-key"
        let token = try await Harness.live(configuration) { h in try await h.signUp("alice").token }

        let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let key = try String(contentsOfFile: keyPath, encoding: .utf8)
        #expect(key.trimmingCharacters(in: .whitespacesAndNewlines).count >= 43, "at least 32 bytes of base64url")

        let status = try await Harness.live(configuration) { h in try await h.request(.get, "/v1/me", token: token).status }
        #expect(status == .ok, "the same key signs after a restart")
        #expect(try String(contentsOfFile: keyPath, encoding: .utf8) == key)
    }

    @Test("a secret shorter than 32 bytes, or a damaged key file, is refused at start")
    func badSecrets() async throws {
        var database = try await TestDatabase(.sqlite)
        database.configuration.jwtSecret = "too short"
        let short = database.configuration
        await #expect(throws: (any Error).self) { _ = try await buildApplication(short) }

        database.configuration.jwtSecret = nil
        try "not base64url!".write(toFile: database.configuration.databasePath + ".jwt-key", atomically: true, encoding: .utf8)
        let damaged = database.configuration
        await #expect(throws: (any Error).self) { _ = try await buildApplication(damaged) }
    }

    @Test("passwords are stored as bcrypt hashes at the configured cost, never as given")
    func bcryptCost() async throws {
        var database = try await TestDatabase()
        database.configuration.bcryptCost = 11
        let configuration = database.configuration
        try await Harness.live(configuration) { h in _ = try await h.signUp("alice", password: "correct horse battery") }
        let store = try await DatabaseLocation(configuration.databasePath).open(limits: configuration.limits, logger: Logger(label: "test"))
        let stored = try #require(try await store.credentials(handleKey: "alice"))
        try await store.close()
        #expect(stored.passwordHash?.hasPrefix("$2b$11$") == true)
        #expect(stored.passwordHash?.contains("correct horse battery") == false)
    }

    @Test("a second server cannot open a SQLite database that one is using")
    func databaseLock() async throws {
        let database = try await TestDatabase(.sqlite)
        let configuration = database.configuration
        try await Harness.live(configuration) { _ in
            await #expect(throws: (any Error).self) { _ = try await buildApplication(configuration) }
        }
        // Released once the first one has stopped.
        try await Harness.live(configuration) { h in _ = try await h.signUp("alice") }
    }

    // MARK: The command

    @Test("options it cannot honour are refused with a message, before anything starts", arguments: [
        (["--bcrypt-cost", "9"], [String: String](), "bcrypt cost"),
        (["--database", "postgres://parley@localhost"], [:], "the PostgreSQL URL names no database"),
        (["--database", "postgres://parley@localhost/parley?sslmode=sometimes"], [:], "sslmode must be disable, prefer or require"),
        (["--auth-timeout", "0"], [:], "auth timeout"),
        (["--log-level", "loud"], [:], "log level"),
        ([], ["PARLEY_PORT": "eighty"], "PARLEY_PORT"),
        (["--public", "/nonexistent/parley-client"], [:], "no browser client folder at '/nonexistent/parley-client'"),
        ([], ["PARLEY_PUBLIC": "/nonexistent/parley-client"], "no browser client folder"),
        (["--accounts", "off"], [:], "--accounts off leaves no way to sign in"),
        (["--accounts", "maybe"], [:], "accounts must be 'on' or 'off'"),
        (["--jwt-hs256-secret", "short"], [:], "at least 32 bytes"),
        (["--jwt-jwks-url", "http://127.0.0.1:9/jwks.json"], [:], "--jwt-jwks-url needs --jwt-audience"),
        (["--jwt-jwks-url", "file:///etc/keys", "--jwt-audience", "parley"], [:], "must be an http:// or https:// URL"),
        (["--jwt-audience", "parley"], [:], "give --jwt-hs256-secret or --jwt-jwks-url too"),
    ])
    func refusedOptions(_ arguments: [String], _ environment: [String: String], _ expected: String) async throws {
        let database = try await TestDatabase(.sqlite)
        let result = try await runParley(["serve", "--database", database.configuration.databasePath] + arguments, environment: environment)
        #expect(result.status != 0)
        #expect(result.output.contains(expected), "output: \(result.output)")
        #expect(!FileManager.default.fileExists(atPath: database.configuration.databasePath), "no database was created")
    }

    @Test("with no subcommand it serves; settings come from the environment, and a flag wins over it")
    func environmentAndDefaults() async throws {
        let database = try await TestDatabase(.sqlite)
        let path = database.configuration.databasePath
        // PARLEY_PORT=1 would fail to bind: the flag must win.
        let process = ChildProcess()
        process.executableURL = ServerProcess.binary
        process.arguments = ["--port", "0"]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "PARLEY_PORT": "1", "PARLEY_DATABASE": path, "PARLEY_JWT_SECRET": TestDatabase.jwtSecret, "PARLEY_BCRYPT_COST": "10",
            "PARLEY_LOG_LEVEL": "warning",
        ]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        #expect(line.contains("listening on http://127.0.0.1:"), "output: \(line)")
        #expect(line.contains("database: \(path)"))
        #expect(FileManager.default.fileExists(atPath: path), "PARLEY_DATABASE was used and the file created")
    }

    @Test("the browser client's folder comes from --public or PARLEY_PUBLIC, the flag winning; empty serves the API only")
    func publicFolder() async throws {
        let database = try await TestDatabase()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parley-public-\(UUID().uuidString)")
        let other = folder.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "<p>from the flag</p>".write(to: folder.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try "<p>from the environment</p>".write(to: other.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)

        func home(_ arguments: [String], environment: [String: String] = [:]) async throws -> Harness.Reply {
            let server = try await ServerProcess.start(
                database: database.configuration.databasePath, arguments: arguments, environment: environment)
            defer { server.terminate() }
            return try await Harness(port: server.port).request(.get, "/")
        }

        #expect(try await home(["--public", folder.path]).raw == "<p>from the flag</p>")
        #expect(try await home([], environment: ["PARLEY_PUBLIC": other.path]).raw == "<p>from the environment</p>")
        #expect(try await home(["--public", folder.path], environment: ["PARLEY_PUBLIC": other.path]).raw == "<p>from the flag</p>")
        let apiOnly = try await home(["--public", ""], environment: ["PARLEY_PUBLIC": other.path])
        #expect(apiOnly.status == .notFound)
        #expect(apiOnly.body["error"]["code"].string == "not_found")
    }

    // MARK: PostgreSQL

    @Test("PostgreSQL that cannot be reached at start: a clear message and a failing exit code, not a hang")
    func unreachablePostgres() async throws {
        let start = ContinuousClock.now
        // Port 1 on loopback: nothing listens there.
        let result = try await runParley(["serve", "--port", "0", "--database", "postgres://parley:secret@127.0.0.1:1/parley"])
        #expect(result.status != 0)
        #expect(result.output.contains("cannot reach PostgreSQL at postgres://parley:***@127.0.0.1:1/parley"), "output: \(result.output)")
        #expect(!result.output.contains("secret"), "the password is never printed")
        #expect(ContinuousClock.now - start < .seconds(30))
    }

    @Test("PostgreSQL that accepts the connection and never answers at start: the same clear message within the limit, not a hang")
    func silentPostgres() async throws {
        // Accepts every connection and never says a word, like a server
        // stuck half-way through starting.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let port = try #require(silent.localAddress?.port)
        let start = ContinuousClock.now
        let result = try await runParley(["serve", "--port", "0", "--database", "postgres://parley@127.0.0.1:\(port)/parley"])
        #expect(result.status != 0)
        #expect(result.output.contains("cannot reach PostgreSQL at postgres://parley@127.0.0.1:\(port)/parley"), "output: \(result.output)")
        #expect(result.output.contains("no answer"), "output: \(result.output)")
        #expect(ContinuousClock.now - start < .seconds(30))
    }

    @Test(
        "on PostgreSQL without a configured secret, the signing key is kept in the database: servers sharing it accept each other's tokens",
        .enabled(if: ScratchPostgres.server != nil))
    func sharedSigningKey() async throws {
        let database = try await ScratchPostgres()
        defer { database.drop() }
        let first = try await ServerProcess.start(database: database.url, jwtSecret: nil)
        defer { first.terminate() }
        let second = try await ServerProcess.start(database: database.url, jwtSecret: nil)
        defer { second.terminate() }
        let alice = try await Harness(port: first.port).signUp("alice")
        #expect(try await Harness(port: second.port).request(.get, "/v1/me", token: alice.token).status == .ok)
        #expect(try await database.value("SELECT length(value)::text FROM secrets WHERE name = 'jwt-signing-key'") == "32")
    }
}
