import Foundation
import HTTPTypes
import Testing

/// `/v1/accounts`, `/v1/tokens`, `/v1/me`, and what applies to every route
/// (unknown routes, `/v1/ws` without an upgrade), against a live server.
@Suite("HTTP routes: accounts and tokens", .timeLimit(.minutes(2)))
struct AccountRouteTests {
    // MARK: POST /v1/accounts

    @Test("sign-up answers 201 with {user, token, expires_ts}, an opaque id and a 30-day token")
    func signUpShape() async throws {
        try await Harness.live { h in
            let before = nowMillis()
            let reply = try await h.call(
                .post, "/v1/accounts", json: ["handle": "alice", "password": "correct horse", "display_name": "Alice Liddell"])
            #expect(reply.status == .created)
            #expect(reply.body.keys == ["user", "token", "expires_ts"])
            let user = reply.body["user"]
            #expect(user.keys == ["id", "handle", "display_name"])
            #expect(isOpaqueID(user["id"]))
            #expect(user["handle"].string == "alice")
            #expect(user["display_name"].string == "Alice Liddell")
            let token = try #require(reply.body["token"].string)
            #expect(!token.isEmpty)
            let expires = try #require(reply.body["expires_ts"].int)
            #expect(expires % 1000 == 0, "expires_ts is on a whole second")
            let thirtyDays = 30 * 24 * 3600 * 1000
            #expect(expires >= before / 1000 * 1000 + thirtyDays - 1000)
            #expect(expires <= nowMillis() + thirtyDays)

            // The token works, and /v1/me describes the same user.
            let me = try await h.call(.get, "/v1/me", token: token)
            #expect(me.status == .ok)
            #expect(me.body["user"] == user)
        }
    }

    @Test("display_name defaults to the handle (absent, null or blank), is trimmed, and the handle keeps its case")
    func displayNameDefaults() async throws {
        try await Harness.live { h in
            let absent = try await h.call(.post, "/v1/accounts", json: ["handle": "bob", "password": "correct horse"])
            #expect(absent.status == .created)
            #expect(absent.body["user"]["display_name"].string == "bob")

            let null = try await h.call(
                .post, "/v1/accounts", json: ["handle": "Carol", "password": "correct horse", "display_name": NSNull()])
            #expect(null.status == .created)
            #expect(null.body["user"]["handle"].string == "Carol")
            #expect(null.body["user"]["display_name"].string == "Carol")

            let blank = try await h.call(
                .post, "/v1/accounts", json: ["handle": "dave", "password": "correct horse", "display_name": " \t "])
            #expect(blank.status == .created)
            #expect(blank.body["user"]["display_name"].string == "dave")

            let padded = try await h.call(
                .post, "/v1/accounts", json: ["handle": "eve", "password": "correct horse", "display_name": "  Eve Ädams \n"])
            #expect(padded.status == .created)
            #expect(padded.body["user"]["display_name"].string == "Eve Ädams")
        }
    }

    @Test("boundary values are accepted: 3- and 32-character handles, an 8-character password, a 64-character display name")
    func signUpBoundaries() async throws {
        try await Harness.live { h in
            // Eight characters, sixteen bytes: the minimum counts characters.
            let short = try await h.call(.post, "/v1/accounts", json: ["handle": "a_1", "password": "éééééééé"])
            #expect(short.status == .created)
            #expect(short.body["user"]["handle"].string == "a_1")
            _ = try await h.logIn("a_1", password: "éééééééé")

            let longHandle = "Z" + String(repeating: "y", count: 29) + ".-"
            #expect(longHandle.count == 32)
            let name = String(repeating: "n", count: 63) + "é"
            let long = try await h.call(
                .post, "/v1/accounts", json: ["handle": longHandle, "password": "12345678", "display_name": name])
            #expect(long.status == .created)
            #expect(long.body["user"]["handle"].string == longHandle)
            #expect(long.body["user"]["display_name"].string == name)
        }
    }

    @Test("a handle taken in another case is a 409 conflict, and the first account is untouched")
    func handleConflict() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("Alice")
            for handle in ["alice", "ALICE", "Alice"] {
                let reply = try await h.call(.post, "/v1/accounts", json: ["handle": handle, "password": "another password"])
                expectError(reply, .conflict, "conflict", handle)
            }
            // The original password still works, the handle keeps its case.
            let login = try await h.call(.post, "/v1/tokens", json: ["handle": "alice", "password": "correct horse battery"])
            #expect(login.status == .ok)
            #expect(login.body["user"]["id"].string == alice.id)
            #expect(login.body["user"]["handle"].string == "Alice")
            let refused = try await h.call(.post, "/v1/tokens", json: ["handle": "alice", "password": "another password"])
            expectError(refused, .unauthorized, "unauthorized")
        }
    }

    @Test("sign-up refuses bad handles, passwords, display names, types and bodies with 400 invalid_request")
    func signUpValidation() async throws {
        try await Harness.live { h in
            let password = "correct horse"
            let cases: [(String, [String: Any])] = [
                ("handle too short", ["handle": "ab", "password": password]),
                ("handle empty", ["handle": "", "password": password]),
                ("handle too long", ["handle": String(repeating: "a", count: 33), "password": password]),
                ("handle with a space", ["handle": "al ice", "password": password]),
                ("handle with '!'", ["handle": "alice!", "password": password]),
                ("handle with '@'", ["handle": "alice@example.org", "password": password]),
                ("handle with a slash", ["handle": "al/ice", "password": password]),
                ("handle with a non-ASCII letter", ["handle": "álice", "password": password]),
                ("password of 7 characters", ["handle": "alice", "password": "1234567"]),
                ("password of 7 two-byte characters", ["handle": "alice", "password": "ééééééé"]),
                ("password over 1024 bytes", ["handle": "alice", "password": String(repeating: "p", count: 1025)]),
                ("handle missing", ["password": password]),
                ("password missing", ["handle": "alice"]),
                ("handle not a string", ["handle": 12345, "password": password]),
                ("handle null", ["handle": NSNull(), "password": password]),
                ("password not a string", ["handle": "alice", "password": 12_345_678]),
                ("display_name not a string", ["handle": "alice", "password": password, "display_name": 5]),
                ("display_name of 65 characters", ["handle": "alice", "password": password, "display_name": String(repeating: "d", count: 65)]),
                ("display_name with a control character", ["handle": "alice", "password": password, "display_name": "Al\u{7}ice"]),
            ]
            for (label, body) in cases {
                let reply = try await h.call(.post, "/v1/accounts", json: body)
                expectError(reply, .badRequest, "invalid_request", label)
            }
            for (label, raw) in [("not JSON", "handle=alice&password=x"), ("empty", ""), ("an array", "[1,2]"),
                                 ("a string", "\"alice\""), ("null", "null"), ("truncated JSON", "{\"handle\":\"alice\",")] {
                let reply = try await h.call(.post, "/v1/accounts", rawBody: raw, headers: [.contentType: "application/json"])
                expectError(reply, .badRequest, "invalid_request", "body \(label)")
            }
            // None of these created an account: "alice" is still free.
            let created = try await h.call(.post, "/v1/accounts", json: ["handle": "alice", "password": password])
            #expect(created.status == .created)
        }
    }

    @Test("a body over 64 KiB is refused with 413 too_large; one just under the limit is read")
    func bodyTooLarge() async throws {
        try await Harness.live { h in
            func body(displayNameBytes: Int) -> String {
                #"{"handle":"alice","password":"correct horse","display_name":""# + String(repeating: "x", count: displayNameBytes) + #""}"#
            }
            let large = body(displayNameBytes: 70 * 1024)
            let tooLarge = try await h.freshConnection.call(.post, "/v1/accounts", rawBody: large)
            expectError(tooLarge, .contentTooLarge, "too_large")

            // Just under 64 KiB: parsed, and refused for what it says.
            let under = body(displayNameBytes: 60 * 1024)
            #expect(under.utf8.count < 64 * 1024)
            let parsed = try await h.freshConnection.call(.post, "/v1/accounts", rawBody: under)
            expectError(parsed, .badRequest, "invalid_request")

            // The server is fine afterwards and "alice" was not created.
            _ = try await h.signUp("alice")
        }
    }

    // MARK: POST /v1/tokens

    @Test("log-in answers 200 with the sign-up shape, matches the handle in any case, and issues a new token each time")
    func logIn() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice", displayName: "Alice Liddell")
            var tokens: Set<String> = [alice.token]
            for handle in ["alice", "ALICE", "aLiCe"] {
                let reply = try await h.call(.post, "/v1/tokens", json: ["handle": handle, "password": "correct horse battery"])
                #expect(reply.status == .ok)
                #expect(reply.body.keys == ["user", "token", "expires_ts"])
                #expect(reply.body["user"] == .object([
                    "id": .string(alice.id), "handle": .string("alice"), "display_name": .string("Alice Liddell"),
                ]))
                #expect(reply.body["expires_ts"].int != nil)
                let token = try #require(reply.body["token"].string)
                #expect(!tokens.contains(token), "log-in reused a token")
                tokens.insert(token)
            }
            #expect(tokens.count == 4)
            for token in tokens {
                let me = try await h.call(.get, "/v1/me", token: token)
                #expect(me.status == .ok)
                #expect(me.body["user"]["id"].string == alice.id)
            }
        }
    }

    @Test("unknown handle, wrong password and malformed handle all get 401 with byte-identical bodies")
    func logInFailures() async throws {
        try await Harness.live { h in
            _ = try await h.signUp("alice")
            let attempts: [(String, [String: Any])] = [
                ("wrong password", ["handle": "alice", "password": "wrong horse battery"]),
                ("unknown handle", ["handle": "nobody", "password": "correct horse battery"]),
                ("malformed handle", ["handle": "a!", "password": "correct horse battery"]),
                ("empty handle", ["handle": "", "password": "correct horse battery"]),
                ("short password", ["handle": "alice", "password": "x"]),
            ]
            var bodies: [String] = []
            for (label, body) in attempts {
                let reply = try await h.call(.post, "/v1/tokens", json: body)
                expectError(reply, .unauthorized, "unauthorized", label)
                bodies.append(reply.raw)
            }
            #expect(Set(bodies).count == 1, "different 401 bodies: \(bodies)")
            #expect(!bodies[0].contains("alice") && !bodies[0].contains("nobody"))
        }
    }

    @Test("log-in refuses malformed bodies with 400 invalid_request")
    func logInValidation() async throws {
        try await Harness.live { h in
            let cases: [(String, [String: Any])] = [
                ("password missing", ["handle": "alice"]),
                ("handle missing", ["password": "correct horse battery"]),
                ("handle not a string", ["handle": 7, "password": "correct horse battery"]),
                ("password not a string", ["handle": "alice", "password": ["x"]]),
            ]
            for (label, body) in cases {
                expectError(try await h.call(.post, "/v1/tokens", json: body), .badRequest, "invalid_request", label)
            }
            for raw in ["", "nonsense", "[]"] {
                expectError(try await h.call(.post, "/v1/tokens", rawBody: raw), .badRequest, "invalid_request", "body '\(raw)'")
            }
            let large = #"{"handle":"alice","password":""# + String(repeating: "p", count: 70 * 1024) + #""}"#
            expectError(try await h.freshConnection.call(.post, "/v1/tokens", rawBody: large), .contentTooLarge, "too_large")
        }
    }

    // MARK: DELETE /v1/tokens/current

    @Test("log-out answers 204 and revokes only that token")
    func logOut() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let second = try await h.logIn("alice")

            expectNoContent(try await h.call(.delete, "/v1/tokens/current", token: alice.token))

            expectError(try await h.call(.get, "/v1/me", token: alice.token), .unauthorized, "unauthorized", "revoked token")
            expectError(
                try await h.call(.get, "/v1/conversations", token: alice.token), .unauthorized, "unauthorized", "revoked token")
            expectError(
                try await h.call(.delete, "/v1/tokens/current", token: alice.token), .unauthorized, "unauthorized",
                "revoking twice")

            let me = try await h.call(.get, "/v1/me", token: second)
            #expect(me.status == .ok)
            #expect(me.body["user"]["id"].string == alice.id)
            // A new log-in works too.
            let third = try await h.logIn("alice")
            #expect(try await h.call(.get, "/v1/me", token: third).status == .ok)
        }
    }

    @Test("log-out without a token is 401")
    func logOutWithoutToken() async throws {
        try await Harness.live { h in
            expectError(try await h.call(.delete, "/v1/tokens/current"), .unauthorized, "unauthorized")
            expectError(
                try await h.call(.delete, "/v1/tokens/current", headers: [.authorization: "Bearer nonsense"]),
                .unauthorized, "unauthorized")
        }
    }

    // MARK: GET /v1/me

    @Test("GET /v1/me answers {user}; the Bearer scheme name is case-insensitive")
    func me() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice", displayName: "Alice")
            let reply = try await h.call(.get, "/v1/me", token: alice.token)
            #expect(reply.status == .ok)
            #expect(reply.body == .object([
                "user": .object(["id": .string(alice.id), "handle": .string("alice"), "display_name": .string("Alice")]),
            ]))
            let lower = try await h.call(.get, "/v1/me", headers: [.authorization: "bearer \(alice.token)"])
            #expect(lower.status == .ok)
            #expect(lower.body["user"]["id"].string == alice.id)
        }
    }

    @Test("GET /v1/me refuses missing, malformed, forged, expired and query-string tokens with the same 401")
    func meUnauthorized() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")

            // Control: a token made here with the test secret is accepted, so
            // the refusals below are about what differs, not how it is made.
            let forged = ForgedToken.make(sub: alice.id)
            let control = try await h.call(.get, "/v1/me", token: forged)
            #expect(control.status == .ok, "a correctly signed token was refused: \(control.raw)")
            #expect(control.body["user"]["id"].string == alice.id)

            let now = nowMillis() / 1000
            // Alice's real token with Bob as the subject, her signature kept.
            let parts = alice.token.split(separator: ".").map(String.init)
            #expect(parts.count == 3)
            let payload = #"{"sub":"\#(bob.id)","jti":"\#(unknownOpaqueID())","iat":\#(now),"exp":\#(now + 3600)}"#
            let tampered = parts[0] + "." + base64URL(Data(payload.utf8)) + "." + (parts.count == 3 ? parts[2] : "")

            let cases: [(String, HTTPFields, String)] = [
                ("no header", [:], "/v1/me"),
                ("empty bearer", [.authorization: "Bearer "], "/v1/me"),
                ("garbage token", [.authorization: "Bearer garbage"], "/v1/me"),
                ("token without a scheme", [.authorization: alice.token], "/v1/me"),
                ("another scheme", [.authorization: "Basic \(alice.token)"], "/v1/me"),
                ("other secret", [.authorization: "Bearer \(ForgedToken.make(sub: alice.id, secret: "some-other-secret-that-is-long-enough-too"))"], "/v1/me"),
                ("unknown user", [.authorization: "Bearer \(ForgedToken.make(sub: unknownOpaqueID()))"], "/v1/me"),
                ("malformed user id", [.authorization: "Bearer \(ForgedToken.make(sub: "1"))"], "/v1/me"),
                ("expired", [.authorization: "Bearer \(ForgedToken.make(sub: alice.id, iat: now - 7200, exp: now - 60))"], "/v1/me"),
                ("alg none", [.authorization: "Bearer \(ForgedToken.unsigned(sub: alice.id))"], "/v1/me"),
                ("tampered payload", [.authorization: "Bearer \(tampered)"], "/v1/me"),
                ("truncated signature", [.authorization: "Bearer \(alice.token.dropLast(4))"], "/v1/me"),
                ("over 4096 bytes", [.authorization: "Bearer \(alice.token + String(repeating: "A", count: 4100))"], "/v1/me"),
                ("token in the query string", [:], "/v1/me?token=\(alice.token)"),
                ("access_token in the query string", [:], "/v1/me?access_token=\(alice.token)"),
            ]
            var bodies: Set<String> = []
            for (label, headers, path) in cases {
                let reply = try await h.call(.get, path, headers: headers)
                expectError(reply, .unauthorized, "unauthorized", label)
                bodies.insert(reply.raw)
            }
            #expect(bodies.count == 1, "different 401 bodies: \(bodies)")
        }
    }

    // MARK: Every route

    @Test("unknown routes and methods get 404 not_found with the error shape, with or without a token")
    func unknownRoutes() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            // (`GET /` is the browser client: BrowserClientRouteTests.)
            let routes: [(HTTPRequest.Method, String)] = [
                (.post, "/"), (.get, "/v1"), (.get, "/v1/nothing"), (.get, "/v2/me"), (.post, "/v1/me"), (.put, "/v1/me"),
                (.get, "/v1/accounts"), (.get, "/v1/tokens"), (.patch, "/v1/conversations"),
                (.get, "/v1/conversations/\(unknownOpaqueID())/nothing"), (.post, "/v1/users"), (.post, "/v1/blocks"),
            ]
            for (method, path) in routes {
                for token in [nil, alice.token] {
                    let reply = try await h.call(method, path, token: token)
                    expectError(reply, .notFound, "not_found", "\(method) \(path) token: \(token != nil)")
                    #expect(reply.body["error"]["message"].string == "no such route", "\(method) \(path): \(reply.raw)")
                }
            }
        }
    }

    @Test("GET /v1/ws without an upgrade is 400 invalid_request, with or without a token")
    func webSocketWithoutUpgrade() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            expectError(try await h.call(.get, "/v1/ws"), .badRequest, "invalid_request")
            expectError(try await h.call(.get, "/v1/ws", token: alice.token), .badRequest, "invalid_request")
        }
    }
}
