import Foundation
import Testing

/// Log-in codes by e-mail (issue 19), against the real binary and a real
/// SMTP server on loopback (Debian's aiosmtpd).
///
/// One test at a time: each starts a mail server (and openssl for TLS) and a
/// server, a burst the other suites' timings feel on two cores.
@Suite("Log-in codes by e-mail", .serialized, .timeLimit(.minutes(3)))
struct LoginCodeTests {
    /// A server (SQLite or PostgreSQL, as the run says) mailing through
    /// aiosmtpd; with `trusted: false` it is not told the mail server's CA.
    static func withMailServer(
        tls: Bool = false, trusted: Bool = true, _ body: (MailCatcher, Harness) async throws -> Void
    ) async throws {
        let mail = try await MailCatcher.start(tls: tls)
        defer { mail.stop() }
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(
            database: database.configuration.databasePath, arguments: mail.serverArguments(trusting: trusted))
        defer { server.terminate() }
        try await body(mail, Harness(port: server.port))
    }

    @Test("a code mailed over SMTP signs in once, making the account on first use; wrong tries wear a code out; the address is its owner's only")
    func signIn() async throws {
        try await Self.withMailServer { mail, h in
            let methods = try await h.call(.get, "/v1/sign-in")
            #expect(methods.body["password"].bool == true && methods.body["email_code"].bool == true)

            let asked = try await h.call(.post, "/v1/login-codes", json: ["email": " Zoe@Example.TEST "])
            #expect(asked.status == .accepted)
            let first = try await mail.code(to: "zoe@example.test", number: 1)
            let made = try await h.call(.post, "/v1/tokens", json: ["email": "zoe@example.test", "code": first, "handle": "Zed"])
            #expect(made.status == .created, "\(made.raw)")
            let token = try #require(made.body["token"].string)
            let zoe = try #require(made.body["user"]["id"].string)
            #expect(made.body["user"]["handle"].string == "Zed", "the handle asked for, being free")
            #expect(!made.raw.contains("zoe"), "the handle and name say nothing of the address: \(made.raw)")
            let me = try await h.request(.get, "/v1/me", token: token)
            #expect(me.body["email"].string == "zoe@example.test", "the owner sees their address")
            expectError(
                try await h.call(.post, "/v1/tokens", json: ["email": "zoe@example.test", "code": first]), .unauthorized, "unauthorized", "used")

            // Again: the same account. Five wrong tries wear the code out.
            _ = try await h.call(.post, "/v1/login-codes", json: ["email": "zoe@example.test"])
            let second = try await mail.code(to: "zoe@example.test", number: 2)
            let wrong = second == "000000" ? "111111" : "000000"
            for _ in 0..<5 {
                expectError(try await h.call(.post, "/v1/tokens", json: ["email": "zoe@example.test", "code": wrong]), .unauthorized, "unauthorized")
            }
            expectError(
                try await h.call(.post, "/v1/tokens", json: ["email": "zoe@example.test", "code": second]), .unauthorized, "unauthorized",
                "worn out")
            _ = try await h.call(.post, "/v1/login-codes", json: ["email": "zoe@example.test"])
            let third = try await mail.code(to: "zoe@example.test", number: 3)
            let again = try await h.call(.post, "/v1/tokens", json: ["email": "zoe@example.test", "code": third, "handle": "other"])
            #expect(again.status == .ok && again.body["user"]["id"].string == zoe && again.body["user"]["handle"].string == "Zed")

            // A handle taken already: a made-up one.
            _ = try await h.call(.post, "/v1/login-codes", json: ["email": "zed@example.test"])
            let zedCode = try await mail.code(to: "zed@example.test", number: 1)
            let other = try await h.call(.post, "/v1/tokens", json: ["email": "zed@example.test", "code": zedCode, "handle": "ZED"])
            #expect(other.status == .created && other.body["user"]["handle"].string?.hasPrefix("u") == true)

            // Others never see the address.
            let yan = try await h.signUp("yan")
            let direct = try await h.call(.post, "/v1/conversations", token: yan.token, json: ["kind": "direct", "with": zoe])
            #expect(!direct.raw.contains("example.test"))
            // Any address gets 202; a malformed one is a 400.
            #expect(try await h.call(.post, "/v1/login-codes", json: ["email": "nobody@example.test"]).status == .accepted)
            expectError(try await h.call(.post, "/v1/login-codes", json: ["email": "not an address"]), .badRequest, "invalid_request")
            expectError(try await h.call(.post, "/v1/login-codes", json: ["email": "a@b.test\r\nBcc: x@y.test"]), .badRequest, "invalid_request")
        }
    }

    @Test("asking is throttled by address: the sixth code within 15 minutes is 429 with retry_after_ms")
    func throttled() async throws {
        try await Self.withMailServer { mail, h in
            // Each mail awaited before the next is asked for: mails go out in
            // parallel, so only then is the nth mail the nth code.
            var codes: [String] = []
            for number in 1...5 {
                #expect(try await h.call(.post, "/v1/login-codes", json: ["email": "busy@example.test"]).status == .accepted)
                codes.append(try await mail.code(to: "busy@example.test", number: number))
            }
            let refused = try await h.call(.post, "/v1/login-codes", json: ["email": "busy@example.test"])
            expectError(refused, .tooManyRequests, "rate_limited")
            #expect((refused.body["error"]["retry_after_ms"].int ?? 0) > 0)
            #expect(try await h.call(.post, "/v1/login-codes", json: ["email": "other@example.test"]).status == .accepted)
            // Only the newest code works.
            let older = codes[3], newest = codes[4]
            if older != newest {
                expectError(try await h.call(.post, "/v1/tokens", json: ["email": "busy@example.test", "code": older]), .unauthorized, "unauthorized")
            }
            #expect(try await h.call(.post, "/v1/tokens", json: ["email": "busy@example.test", "code": newest]).status == .created)

            // And by client: 20 codes from one client (6 so far), whatever the addresses.
            for number in 1...14 {
                #expect(try await h.call(.post, "/v1/login-codes", json: ["email": "many\(number)@example.test"]).status == .accepted)
            }
            let fromClient = try await h.call(.post, "/v1/login-codes", json: ["email": "fresh@example.test"])
            expectError(fromClient, .tooManyRequests, "rate_limited")
        }
    }

    @Test("a server whose certificate is not trusted gets no mail, and the asker is still answered 202")
    func untrustedCertificate() async throws {
        try await Self.withMailServer(tls: true, trusted: false) { (mail: MailCatcher, h: Harness) async throws in
            #expect(try await h.call(.post, "/v1/login-codes", json: ["email": "spy@example.test"]).status == .accepted)
            await #expect(throws: TestFailure.self) { try await mail.code(to: "spy@example.test", number: 1, within: .seconds(3)) }
            #expect(mail.mails().isEmpty)
        }
    }

    @Test("STARTTLS: a server that offers (and requires) it gets the mail over TLS, its certificate checked")
    func startTLS() async throws {
        try await Self.withMailServer(tls: true) { mail, h in
            #expect(try await h.call(.post, "/v1/login-codes", json: ["email": "tls@example.test"]).status == .accepted)
            let code = try await mail.code(to: "tls@example.test", number: 1)
            #expect(try await h.call(.post, "/v1/tokens", json: ["email": "tls@example.test", "code": code]).status == .created)
        }
    }

    @Test("a password account links an address with a code; it then signs in by it; another account cannot take it")
    func linking() async throws {
        try await Self.withMailServer { mail, h in
            let ada = try await h.signUp("ada")
            #expect(try await h.request(.get, "/v1/me", token: ada.token).body["email"] == .null)
            #expect(try await h.call(.put, "/v1/me/email", token: ada.token, json: ["email": "ada@example.test"]).status == .accepted)
            let code = try await mail.code(to: "ada@example.test", number: 1)
            expectError(try await h.call(.post, "/v1/me/email/confirm", token: ada.token, json: ["code": "999999"]), .unauthorized, "unauthorized")
            let linked = try await h.request(.post, "/v1/me/email/confirm", token: ada.token, json: ["code": code])
            #expect(linked.status == .ok && linked.body["email"].string == "ada@example.test")
            #expect(try await h.request(.get, "/v1/me", token: ada.token).body["email"].string == "ada@example.test")

            _ = try await h.call(.post, "/v1/login-codes", json: ["email": "ada@example.test"])
            let signIn = try await mail.code(to: "ada@example.test", number: 2)
            let byMail = try await h.call(.post, "/v1/tokens", json: ["email": "ada@example.test", "code": signIn])
            #expect(byMail.status == .ok && byMail.body["user"]["id"].string == ada.id)

            let bea = try await h.signUp("bea")
            _ = try await h.call(.put, "/v1/me/email", token: bea.token, json: ["email": "ADA@example.test"])
            let taken = try await mail.code(to: "ada@example.test", number: 3)
            expectError(try await h.call(.post, "/v1/me/email/confirm", token: bea.token, json: ["code": taken]), .conflict, "conflict")
        }
    }

    @Test("without a mail server there are no log-in codes: 404, and the sign-in methods say so")
    func notOffered() async throws {
        try await Harness.live { h in
            #expect(try await h.call(.get, "/v1/sign-in").body["email_code"].bool == false)
            expectError(try await h.call(.post, "/v1/login-codes", json: ["email": "a@example.test"]), .notFound, "not_found")
            expectError(try await h.call(.post, "/v1/tokens", json: ["email": "a@example.test", "code": "123456"]), .notFound, "not_found")
        }
    }
}
