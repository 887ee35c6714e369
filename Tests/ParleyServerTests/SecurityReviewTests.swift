import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// The low findings of the black-box security review (issue 16), each
/// reproduced against the real binary and shown refused.
@Suite("Security review findings", .timeLimit(.minutes(3)))
struct SecurityReviewTests {
    @Test("display names and titles that impersonate (A\\u{200B}dmin, U+202E, U+2066) are refused with 400 and nothing is stored")
    func deceptiveNames() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        for (n, name) in ["A\u{200B}dmin", "evil\u{202E}gnp.exe", "\u{2066}Admin\u{2069}", "Ad\u{FEFF}min"].enumerated() {
            let reply = try await h.call(
                .post, "/v1/accounts", json: ["handle": "mallory\(n)", "password": "correct horse battery", "display_name": name])
            expectError(reply, .badRequest, "invalid_request", "display_name \(name.unicodeScalars.map { String($0.value, radix: 16) }):")
            expectError(
                try await h.call(.post, "/v1/tokens", json: ["handle": "mallory\(n)", "password": "correct horse battery"]),
                .unauthorized, "unauthorized", "the refused account was not created:")
        }
        let admin = try await h.signUp("admin", displayName: "Admin")
        let reply = try await h.call(
            .post, "/v1/conversations", token: admin.token, json: ["kind": "group", "title": "Pay\u{202E}lanigiro", "members": []])
        expectError(reply, .badRequest, "invalid_request")
        #expect(try await h.listIDs(admin) == [])
    }

    @Test("every /v1 answer carries Cache-Control: no-store, errors and unknown routes included; the client's files stay revalidated")
    func noStore() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let alice = try await h.signUp("alice")
        let answers = [
            ("POST /v1/accounts", try await h.request(.post, "/v1/accounts", json: ["handle": "bob", "password": "correct horse battery"])),
            ("GET /v1/me", try await h.request(.get, "/v1/me", token: alice.token)),
            ("GET /v1/me without a token", try await h.request(.get, "/v1/me")),
            ("GET /v1/conversations", try await h.request(.get, "/v1/conversations", token: alice.token)),
            ("GET /v1/nowhere", try await h.request(.get, "/v1/nowhere", token: alice.token)),
            ("GET /v1/ws without an upgrade", try await h.request(.get, "/v1/ws")),
        ]
        for (what, reply) in answers {
            #expect(reply.headers[.cacheControl] == "no-store", "\(what): \(reply.status) \(reply.headers[.cacheControl] ?? "none")")
        }
        let page = try await h.request(.get, "/")
        #expect(page.status == .ok && page.headers[.cacheControl] == "no-cache", "\(page.headers[.cacheControl] ?? "none")")
    }

    @Test("a static path with a NUL or a control character answers 400, never a file served as another type")
    func controlCharactersInPaths() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        for path in ["/js/main.js%00.html", "/index.html%00", "/js/main.js%0A.html", "/%1Bjs/main.js", "/js/main.js%7F"] {
            let reply = try await h.call(.get, path)
            expectError(reply, .badRequest, "invalid_request", "\(path):")
            #expect(reply.headers[.contentType] == "application/json; charset=utf-8", "\(path)")
        }
        let script = try await h.request(.get, "/js/main.js")
        #expect(script.status == .ok && script.headers[.contentType]?.contains("javascript") == true, "the real file still serves")
    }

    @Test("the database files (and the signing key beside them) are readable by their owner only, and looser ones from before are tightened")
    func databaseFileModes() async throws {
        let database = try await TestDatabase()
        let path = database.configuration.databasePath
        func mode(_ file: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) ?? -1
        }
        // The key file is made only when no secret is given: run without one.
        let server = try await ServerProcess.start(database: path, arguments: [], environment: [:], jwtSecret: nil)
        _ = try await Harness(port: server.port).signUp("alice")
        for file in [path, path + "-wal", path + "-shm", path + ".jwt-key"] {
            let found = try mode(file)
            #expect(found == 0o600, "\(file): \(String(found, radix: 8))")
        }
        _ = server.terminate()

        // A database left 0644 by an older version is tightened at start.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let again = try await ServerProcess.start(database: path, jwtSecret: nil)
        defer { again.terminate() }
        _ = try await Harness(port: again.port).logIn("alice")
        for file in [path, path + "-wal", path + "-shm"] {
            let found = try mode(file)
            #expect(found == 0o600, "\(file) after a restart: \(String(found, radix: 8))")
        }
    }

    @Test("an unmasked client frame closes the socket with 1002, before or after auth, and is not answered")
    func unmaskedFrames() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath)
        defer { server.terminate() }
        let alice = try await Harness(port: server.port).signUp("alice")
        for signedIn in [false, true] {
            let socket = signedIn
                ? try await AbuseRawSocket.open(port: server.port, token: alice.token)
                : try await AbuseRawSocket.open(port: server.port)
            if signedIn {
                guard case .text(let ready) = try await socket.firstFrame(), ready.contains(#""type":"ready""#) else {
                    Issue.record("no ready"); return
                }
            }
            try await socket.sendUnmaskedFrame(opcode: 0x1, Array(#"{"type":"ping","id":"p"}"#.utf8))
            let events = await socket.eventsToEnd()
            #expect(!events.contains { if case .text = $0 { true } else { false } }, "not answered: \(events)")
            #expect(events.contains(.close(code: 1002, reason: "client frames must be masked")), "signed in: \(signedIn): \(events)")
        }
    }

    @Test("3,000 frames before auth get at most 10 answers, then the close 4400")
    func framesBeforeAuth() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath)
        defer { server.terminate() }
        let socket = try await AbuseRawSocket.open(port: server.port)
        for n in 0..<3_000 {
            do {
                try await socket.sendFrame(opcode: 0x1, Array(#"{"type":"ping","id":"\#(n)"}"#.utf8))
            } catch {
                break  // The server closed: the rest cannot be sent.
            }
        }
        let events = await socket.eventsToEnd()
        let answers = events.filter { if case .text = $0 { true } else { false } }
        #expect(answers.count <= 10, "\(answers.count) answers")
        #expect(events.contains(.close(code: 4400, reason: "too many frames before auth")), "\(events.suffix(3))")
    }

    @Test("a request body trickled in a byte at a time is answered 408 and closed at the deadline; whole bodies are unaffected")
    func slowBody() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath, arguments: ["--request-body-timeout", "2"])
        defer { server.terminate() }
        let body = #"{"handle":"slowpoke","password":"correct horse battery"}"#
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ResponseCollector()) }
            }
            .connect(host: "127.0.0.1", port: server.port).get()
        let collector = try await channel.pipeline.handler(type: ResponseCollector.self).get()
        let started = ContinuousClock.now
        try await channel.writeAndFlush(ByteBuffer(string:
            "POST /v1/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"))
        // One byte every 300 ms: the whole body would take about 17 s.
        for byte in body.utf8 {
            guard channel.isActive else { break }
            try? await channel.writeAndFlush(ByteBuffer(bytes: [byte]))
            try await Task.sleep(for: .milliseconds(300))
        }
        try await channel.closeFuture.get()
        let elapsed = ContinuousClock.now - started
        let response = collector.text
        #expect(response.hasPrefix("HTTP/1.1 408"), "\(response.prefix(200))")
        #expect(response.contains(#""code":"request_timeout""#))
        #expect(elapsed < .seconds(8), "closed at the deadline, not when the body ended: \(elapsed)")
        // Nothing was created, and whole bodies still go through.
        let h = Harness(port: server.port)
        expectError(
            try await h.call(.post, "/v1/tokens", json: ["handle": "slowpoke", "password": "correct horse battery"]),
            .unauthorized, "unauthorized")
        _ = try await h.signUp("quick")
    }
}

/// Collects what the server sends on a bare TCP connection.
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let received = NIOLockedValueBox("")

    var text: String { received.withLockedValue { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.withLockedValue { $0 += String(buffer: buffer) }
    }
}
