import Foundation
import HTTPTypes
import Testing

/// The per-address limits the security review found missing, against the
/// real binary: sign-ups per address, bounded password hashing, sockets
/// still signing in, and the client address behind trusted proxies.
/// Loads the machine (bcrypt): runs alone (scripts/test).
@Suite("Per-address limits", .timeLimit(.minutes(3)))
struct AddressLimitTests {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func signUp(_ h: Harness, _ handle: String, from address: String? = nil) async throws -> Harness.Reply {
        var headers = HTTPFields()
        if let address { headers[Self.forwardedFor] = address }
        return try await h.request(
            .post, "/v1/accounts", json: ["handle": handle, "password": "correct horse battery"], headers: headers)
    }

    @Test("sign-ups per address: past --signup-rate, 429 rate_limited with retry_after_ms, and no account")
    func signupRate() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath, arguments: ["--signup-rate", "3"])
        defer { server.terminate() }
        let h = Harness(port: server.port)
        for n in 1...3 { #expect(try await signUp(h, "user\(n)").status == .created) }
        let refused = try await signUp(h, "user4")
        #expect(refused.status == .tooManyRequests && refused.body["error"]["code"] == .string("rate_limited"), "\(refused.raw)")
        let wait = refused.body["error"]["retry_after_ms"].int ?? 0
        #expect(wait > 3_000_000 && wait <= 3_600_000, "the oldest of the hour's accounts must age out: \(wait) ms")
        expectError(
            try await h.call(.post, "/v1/tokens", json: ["handle": "user4", "password": "correct horse battery"]),
            .unauthorized, "unauthorized", "not created:")
        // A forged X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
        #expect(try await signUp(h, "user5", from: "198.51.100.77").status == .tooManyRequests)
    }

    @Test("behind a trusted proxy each client has its own limits: sign-ups and failed logins count the forwarded address")
    func behindProxy() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(
            database: database.configuration.databasePath, arguments: ["--signup-rate", "2", "--trusted-proxies", "127.0.0.0/8"])
        defer { server.terminate() }
        let h = Harness(port: server.port)
        #expect(try await signUp(h, "alpha1", from: "198.51.100.1").status == .created)
        #expect(try await signUp(h, "alpha2", from: "6.6.6.6, 198.51.100.1").status == .created, "the client's own entry is ignored")
        #expect(try await signUp(h, "alpha3", from: "198.51.100.1").status == .tooManyRequests)
        #expect(try await signUp(h, "beta1", from: "198.51.100.2").status == .created, "another client behind the same proxy")

        // Ten failed logins from one client lock that client out, not the others.
        for _ in 1...10 {
            let reply = try await h.request(
                .post, "/v1/tokens", json: ["handle": "nobody\(UUID().uuidString.prefix(6).lowercased())", "password": "wrong password"],
                headers: [Self.forwardedFor: "203.0.113.5"])
            #expect(reply.status == .unauthorized)
        }
        let locked = try await h.request(
            .post, "/v1/tokens", json: ["handle": "alpha1", "password": "correct horse battery"], headers: [Self.forwardedFor: "203.0.113.5"])
        #expect(locked.status == .tooManyRequests, "\(locked.raw)")
        let other = try await h.request(
            .post, "/v1/tokens", json: ["handle": "alpha1", "password": "correct horse battery"], headers: [Self.forwardedFor: "198.51.100.1"])
        #expect(other.status == .ok, "a real user behind the same proxy still logs in: \(other.raw)")
    }

    @Test("--trusted-proxies refuses what is not an address block, naming it")
    func badProxyList() async throws {
        let database = try await TestDatabase()
        let refused = try await runParley(["serve", "--database", database.configuration.databasePath, "--trusted-proxies", "10.0.0.0/8,lb.local"])
        #expect(refused.status != 0 && refused.output.contains("'lb.local'"), "\(refused.output)")
    }

    @Test("sockets still signing in, per address: past --max-unauthenticated the upgrade is answered 429; signing in frees the place")
    func unauthenticatedSockets() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath, arguments: ["--max-unauthenticated", "5"])
        defer { server.terminate() }
        let alice = try await Harness(port: server.port).signUp("alice")
        var waiting: [AbuseRawSocket] = []
        for _ in 1...5 {
            let socket = try await AbuseRawSocket.open(port: server.port)
            #expect(await socket.next() == .status(101))
            waiting.append(socket)
        }
        let refused = try await RawWebSocket.refusal(port: server.port)
        #expect(refused.status == 429, "\(refused)")
        #expect(refused.body.contains(#""code":"rate_limited""#) && refused.body.contains("retry_after_ms"), "\(refused.body)")

        // One signs in: its place is free for another.
        try await waiting[0].sendFrame(opcode: 0x1, Array(#"{"type":"auth","token":"\#(alice.token)"}"#.utf8))
        guard case .text(let ready) = try await waiting[0].firstFrame(), ready.contains(#""type":"ready""#) else {
            Issue.record("no ready"); return
        }
        let next = try await AbuseRawSocket.open(port: server.port)
        #expect(await next.next() == .status(101))
        // One closes: its place is free too.
        await waiting[1].drop()
        var admitted = false
        for _ in 0..<50 where !admitted {
            let socket = try await AbuseRawSocket.open(port: server.port)
            admitted = await socket.next() == .status(101)
            if !admitted { try await Task.sleep(for: .milliseconds(20)) }
            waiting.append(socket)
        }
        #expect(admitted, "a closed socket gives its place back")
        for socket in waiting + [next] { await socket.drop() }

        // Upgrades dropped at once, before the 101 is read, give their places back too.
        for _ in 1...20 { await (try await AbuseRawSocket.open(port: server.port)).drop() }
        var open: [AbuseRawSocket] = []
        for attempt in 1...5 {
            var status: AbuseRawSocket.Event?
            for _ in 0..<50 {
                let socket = try await AbuseRawSocket.open(port: server.port)
                status = await socket.next()
                if status == .status(101) {
                    open.append(socket)
                    break
                }
                await socket.drop()
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(status == .status(101), "place \(attempt) of 5 after the dropped upgrades")
        }
        for socket in open { await socket.drop() }
    }

    @Test("a flood of sign-ups is refused at once with 503 and retry_after_ms once the hashing queue is full, never queued without end")
    func hashingFlood() async throws {
        let database = try await TestDatabase()
        // bcrypt cost 13: each hash takes long enough that 24 arrive together.
        let server = try await ServerProcess.start(
            database: database.configuration.databasePath, arguments: ["--bcrypt-cost", "13", "--signup-rate", "0"])
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let statuses = try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            for n in 0..<24 {
                group.addTask {
                    let reply = try await signUp(h, "flood\(n)")
                    return (reply.status.code, reply.body["error"]["retry_after_ms"].int)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let refused = statuses.filter { $0.0 == 503 }
        #expect(!refused.isEmpty, "\(statuses)")
        #expect(refused.allSatisfy { ($0.1 ?? 0) > 0 }, "each refusal says when to retry")
        #expect(statuses.allSatisfy { [201, 503].contains($0.0) }, "\(statuses)")
        // Whoever got in is an account; whoever was refused is not.
        #expect(statuses.filter { $0.0 == 201 }.count + refused.count == 24)
    }
}
