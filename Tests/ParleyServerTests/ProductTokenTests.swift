import Crypto
import Foundation
import ParleyCore
import Testing
import _CryptoExtras

/// The product's own tokens (issue 19), against the real binary: HS256
/// with a shared secret, RS256 and ES256 from a JWKS served over HTTP by
/// the test, and every kind of bad token refused on HTTP and on /v1/ws.
@Suite("Tokens from the product", .timeLimit(.minutes(3)))
struct ProductTokenTests {
    static let checked = ["--jwt-issuer", ProductIssuer.issuer, "--jwt-audience", ProductIssuer.audience]

    /// Accepted on HTTP (GET /v1/me) and on the WebSocket; returns `user`.
    static func expectAccepted(_ token: String, _ h: Harness, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSON {
        let me = try await h.call(.get, "/v1/me", token: token)
        #expect(me.status == .ok, "\(label): \(me.body)", sourceLocation: sourceLocation)
        let (socket, ready) = try await TestSocket.ready(port: h.port, token: token)
        #expect(ready["type"].string == "ready", sourceLocation: sourceLocation)
        await socket.close()
        return me.body["user"]
    }

    static func expectRefused(_ token: String, _ h: Harness, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        expectError(try await h.call(.get, "/v1/me", token: token), .unauthorized, "unauthorized", label, sourceLocation: sourceLocation)
        let socket = try await RawWebSocket.refusal(port: h.port, headers: [("Authorization", "Bearer \(token)")])
        #expect(socket.closeCode == 4401, "\(label) on /v1/ws", sourceLocation: sourceLocation)
    }

    @Test("HS256: the user is made on first use from the claims, found again by sub, and the external id is shown to nobody")
    func sharedSecret() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(
            database: database.configuration.databasePath, arguments: ["--jwt-hs256-secret", ProductIssuer.secret] + Self.checked)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let signer = ProductIssuer.Signer.hs256(ProductIssuer.secret)
        let sub = "product-user-8812"
        let first = try ProductIssuer.token(
            ProductIssuer.claims(sub: sub, extra: ["preferred_username": "dana", "name": "Dana K."]), signer: signer)
        let dana = try await Self.expectAccepted(first, h, "first use")
        #expect(dana["handle"].string == "dana")
        #expect(dana["display_name"].string == "Dana K.")
        let id = try #require(dana["id"].string)
        #expect(id != sub)
        // Another token for the same sub, other claims: the same user, unchanged.
        let second = try ProductIssuer.token(ProductIssuer.claims(sub: sub, extra: ["preferred_username": "other"]), signer: signer)
        #expect(try await Self.expectAccepted(second, h, "second token")["id"].string == id)
        #expect(try await Self.expectAccepted(second, h, "second token")["handle"].string == "dana")

        // Password accounts still work beside it, and see Dana like anyone else.
        let erin = try await h.signUp("erin")
        let direct = try await h.call(.post, "/v1/conversations", token: erin.token, json: ["kind": "direct", "with": id])
        #expect(direct.status == .created)
        for reply in [
            direct, try await h.call(.get, "/v1/users?q=dan", token: erin.token), try await h.call(.get, "/v1/users/dana", token: erin.token),
        ] {
            #expect(reply.status == .ok || reply.status == .created)
            #expect(!reply.raw.contains(sub), "the external id never reaches another user: \(reply.raw)")
        }
        #expect(!(try await h.call(.get, "/v1/me", token: first).raw.contains(sub)))

        // No password was made for Dana: a password log-in cannot reach her.
        expectError(
            try await h.call(.post, "/v1/tokens", json: ["handle": "dana", "password": ""]), .unauthorized, "unauthorized")

        // Logging out ends that token everywhere; the other token goes on.
        let (socket, _) = try await TestSocket.ready(port: h.port, token: first)
        #expect(try await h.call(.delete, "/v1/tokens/current", token: first).status == .noContent)
        #expect(try await socket.closed().code == 4401)
        try await Self.expectRefused(first, h, "logged-out product token")
        _ = try await Self.expectAccepted(second, h, "the other token")

        // A preferred handle that is taken gives a generated one.
        let taken = try ProductIssuer.token(ProductIssuer.claims(sub: "another-user", extra: ["preferred_username": "ERIN"]), signer: signer)
        let other = try await Self.expectAccepted(taken, h, "taken handle")
        #expect(other["handle"].string != "ERIN" && other["id"].string != erin.id)
    }

    @Test("HS256: expired, not yet valid, wrong audience, wrong issuer, forged, alg none and incomplete tokens are refused; 60 s of skew is forgiven")
    func refusedTokens() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(
            database: database.configuration.databasePath, arguments: ["--jwt-hs256-secret", ProductIssuer.secret] + Self.checked)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let signer = ProductIssuer.Signer.hs256(ProductIssuer.secret)
        var noExp = ProductIssuer.claims(sub: "u-1")
        noExp["exp"] = nil
        var noSub = ProductIssuer.claims(sub: "u-1")
        noSub["sub"] = nil
        let refused: [(String, String)] = [
            ("expired 2 minutes ago", try ProductIssuer.token(ProductIssuer.claims(sub: "u-1", expiresIn: -120), signer: signer)),
            ("valid from in 2 minutes", try ProductIssuer.token(ProductIssuer.claims(sub: "u-1", notBefore: 120), signer: signer)),
            ("wrong audience", try ProductIssuer.token(ProductIssuer.claims(sub: "u-1", audience: "another-app"), signer: signer)),
            ("no audience", try ProductIssuer.token(ProductIssuer.claims(sub: "u-1", audience: nil), signer: signer)),
            ("wrong issuer", try ProductIssuer.token(ProductIssuer.claims(sub: "u-1", issuer: "https://evil.test/"), signer: signer)),
            ("forged", try ProductIssuer.token(ProductIssuer.claims(sub: "u-1"), signer: .hs256("not-the-product-secret-but-long-enough"))),
            ("alg none", try ProductIssuer.token(ProductIssuer.claims(sub: "u-1"), signer: .none)),
            ("no exp", try ProductIssuer.token(noExp, signer: signer)),
            ("no sub", try ProductIssuer.token(noSub, signer: signer)),
            ("sub with a control character", try ProductIssuer.token(ProductIssuer.claims(sub: "u\n1"), signer: signer)),
        ]
        for (label, token) in refused {
            try await Self.expectRefused(token, h, label)
        }
        // The tampered payload of a good token.
        let good = try ProductIssuer.token(ProductIssuer.claims(sub: "u-1"), signer: signer)
        let parts = good.split(separator: ".")
        let tampered = parts[0] + "." + Base64URL.encode(Array(#"{"sub":"admin","exp":9999999999}"#.utf8)) + "." + parts[2]
        try await Self.expectRefused(String(tampered), h, "tampered payload")
        // Users made from tokens without a preferred handle get "u…" ones.
        let search = try await h.call(.get, "/v1/users?q=u", token: (try await h.signUp("watcher")).token)
        #expect(search.status == .ok && search.body["users"].array.isEmpty, "no refused token made a user: \(search.raw)")
        // Within the skew: accepted. An audience list naming Parley: accepted.
        _ = try await Self.expectAccepted(
            try ProductIssuer.token(ProductIssuer.claims(sub: "u-2", expiresIn: -30), signer: signer), h, "expired 30 s ago")
        _ = try await Self.expectAccepted(
            try ProductIssuer.token(ProductIssuer.claims(sub: "u-3", notBefore: 30), signer: signer), h, "valid from in 30 s")
        _ = try await Self.expectAccepted(
            try ProductIssuer.token(ProductIssuer.claims(sub: "u-4", audience: ["other", ProductIssuer.audience]), signer: signer), h,
            "audience list")
    }

    @Test("JWKS: RS256 and ES256 keys by kid; RS/HS confusion refused; a new kid is picked up; the old keys stay while the URL fails; unknown kids fetch at most once per interval")
    func keySet() async throws {
        let keys = try await KeySetServer.start()
        defer { keys.stop() }
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let ec = P256.Signing.PrivateKey()
        try keys.publish([try ProductIssuer.jwk(kid: "rsa-1", rsa: rsa.publicKey), ProductIssuer.jwk(kid: "ec-1", ec: ec.publicKey)])
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(
            database: database.configuration.databasePath,
            arguments: ["--jwt-jwks-url", keys.url, "--jwt-jwks-refresh", "2"] + Self.checked)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let claims = ProductIssuer.claims(sub: "k-1", extra: ["preferred_username": "kim"])
        let viaRSA = try await Self.expectAccepted(try ProductIssuer.token(claims, signer: .rs256(kid: "rsa-1", rsa)), h, "RS256")
        let viaEC = try await Self.expectAccepted(try ProductIssuer.token(claims, signer: .es256(kid: "ec-1", ec)), h, "ES256")
        #expect(viaRSA["id"] == viaEC["id"] && viaRSA["handle"].string == "kim")
        let fetchesAfterStart = keys.fetches
        #expect(fetchesAfterStart == 1, "the key set is fetched once and kept")

        // The RSA public key used as an HS256 secret, under the RSA key's kid.
        try await Self.expectRefused(
            try ProductIssuer.token(claims, signer: .hs256KeyedWith(kid: "rsa-1", rsa.publicKey)), h, "RS/HS confusion")
        // A kid's algorithm is the key's: ES256 under the RSA kid is refused.
        try await Self.expectRefused(try ProductIssuer.token(claims, signer: .es256(kid: "rsa-1", ec)), h, "ES256 under an RSA kid")
        // No HS256 secret is configured: HS256 tokens are not the product's.
        try await Self.expectRefused(try ProductIssuer.token(claims, signer: .hs256(ProductIssuer.secret)), h, "HS256 without a secret")
        try await Self.expectRefused(try ProductIssuer.token(claims, signer: .none), h, "alg none")
        // A key the set does not hold, with a kid it does.
        try await Self.expectRefused(try ProductIssuer.token(claims, signer: .es256(kid: "ec-1", P256.Signing.PrivateKey())), h, "forged ES256")

        // Rotation: a new key under a new kid is picked up by the first
        // token that uses it (the refresh interval having passed).
        try await Task.sleep(for: .milliseconds(2_100))
        let rotated = P256.Signing.PrivateKey()
        try keys.publish([ProductIssuer.jwk(kid: "ec-2", ec: rotated.publicKey)])
        _ = try await Self.expectAccepted(try ProductIssuer.token(claims, signer: .es256(kid: "ec-2", rotated)), h, "rotated key")
        let fetchesAfterRotation = keys.fetches
        #expect(fetchesAfterRotation == fetchesAfterStart + 1)

        // Made-up kids: at most one fetch per interval (2 s) they span,
        // however slowly a loaded machine answers them.
        let started = ContinuousClock.now
        for index in 0..<5 {
            try await Self.expectRefused(
                try ProductIssuer.token(claims, signer: .es256(kid: "made-up-\(index)", P256.Signing.PrivateKey())), h, "unknown kid")
        }
        let intervals = Int((ContinuousClock.now - started) / .seconds(2)) + 1
        #expect(keys.fetches <= fetchesAfterRotation + intervals, "\(keys.fetches - fetchesAfterRotation) fetches for 10 tries over \(intervals) intervals")

        // The URL fails: a fetch is tried and fails, and the keys held go on working.
        try await Task.sleep(for: .milliseconds(2_100))
        keys.fail(true)
        let before = keys.fetches
        try await Self.expectRefused(
            try ProductIssuer.token(claims, signer: .es256(kid: "ec-3", P256.Signing.PrivateKey())), h, "unknown kid while failing")
        #expect(keys.fetches > before, "a fetch was tried")
        _ = try await Self.expectAccepted(try ProductIssuer.token(claims, signer: .es256(kid: "ec-2", rotated)), h, "held key, URL failing")
    }

    @Test("--accounts off: no sign-up or password log-in (403), the product's tokens work, and so do tokens issued before")
    func passwordAccountsOff() async throws {
        let database = try await TestDatabase()
        let path = database.configuration.databasePath
        var server = try await ServerProcess.start(database: path)
        let before = try await Harness(port: server.port).signUp("early")
        _ = server.terminate()
        server = try await ServerProcess.start(
            database: path, arguments: ["--accounts", "off", "--jwt-hs256-secret", ProductIssuer.secret] + Self.checked)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        expectError(
            try await h.call(.post, "/v1/accounts", json: ["handle": "late", "password": "correct horse battery"]), .forbidden, "forbidden")
        expectError(
            try await h.call(.post, "/v1/tokens", json: ["handle": "early", "password": "correct horse battery"]), .forbidden, "forbidden")
        _ = try await Self.expectAccepted(
            try ProductIssuer.token(ProductIssuer.claims(sub: "p-1"), signer: .hs256(ProductIssuer.secret)), h, "product token")
        #expect(try await h.call(.get, "/v1/me", token: before.token).status == .ok, "a token issued before still works until it ends")
    }
}
