import Crypto
import Foundation
import Hummingbird
import Logging
import ParleyCore
import Synchronization
import _CryptoExtras

/// The product's auth service, as the tests play it: it signs tokens
/// (HS256 with a shared secret, RS256 and ES256 with keys it publishes as a
/// JWKS), and can sign the bad ones an attacker would try. Tokens are
/// put together by hand, not by jwt-kit, so that the server's checks are
/// tested against bytes it did not make itself.
struct ProductIssuer: Sendable {
    static let secret = "the-product-and-parley-share-this-hs256-secret"
    static let issuer = "https://auth.product.test/"
    static let audience = "parley"

    enum Signer: Sendable {
        case hs256(String)
        case rs256(kid: String, _RSA.Signing.PrivateKey)
        case es256(kid: String, P256.Signing.PrivateKey)
        /// `alg: none`, no signature.
        case none
        /// HS256 keyed with an RSA public key's PEM: the confusion attack.
        case hs256KeyedWith(kid: String, _RSA.Signing.PublicKey)
    }

    static func claims(
        sub: String, expiresIn: TimeInterval = 600, issuer: String? = ProductIssuer.issuer, audience: Any? = ProductIssuer.audience,
        notBefore: TimeInterval? = nil, extra: [String: Any] = [:]
    ) -> [String: Any] {
        let now = Date().timeIntervalSince1970
        var claims: [String: Any] = ["sub": sub, "exp": Int(now + expiresIn), "iat": Int(now)]
        if let issuer { claims["iss"] = issuer }
        if let audience { claims["aud"] = audience }
        if let notBefore { claims["nbf"] = Int(now + notBefore) }
        return claims.merging(extra) { $1 }
    }

    static func token(_ claims: [String: Any], signer: Signer) throws -> String {
        var header: [String: Any]
        switch signer {
        case .hs256: header = ["alg": "HS256", "typ": "JWT"]
        case .rs256(let kid, _): header = ["alg": "RS256", "typ": "JWT", "kid": kid]
        case .es256(let kid, _): header = ["alg": "ES256", "typ": "JWT", "kid": kid]
        case .none: header = ["alg": "none", "typ": "JWT"]
        case .hs256KeyedWith(let kid, _): header = ["alg": "HS256", "typ": "JWT", "kid": kid]
        }
        let input = try part(header) + "." + part(claims)
        let data = Data(input.utf8)
        let signature: [UInt8]
        switch signer {
        case .hs256(let secret):
            signature = Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: Data(secret.utf8))))
        case .rs256(_, let key):
            signature = Array(try key.signature(for: data, padding: .insecurePKCS1v1_5).rawRepresentation)
        case .es256(_, let key):
            signature = Array(try key.signature(for: data).rawRepresentation)
        case .none:
            signature = []
        case .hs256KeyedWith(_, let key):
            signature = Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: Data(key.pemRepresentation.utf8))))
        }
        return input + "." + Base64URL.encode(signature)
    }

    private static func part(_ object: [String: Any]) throws -> String {
        Base64URL.encode(Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])))
    }

    static func jwk(kid: String, rsa key: _RSA.Signing.PublicKey) throws -> [String: Any] {
        let primitives = try key.getKeyPrimitives()
        return ["kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": Base64URL.encode(Array(primitives.modulus)), "e": Base64URL.encode(Array(primitives.publicExponent))]
    }

    static func jwk(kid: String, ec key: P256.Signing.PublicKey) -> [String: Any] {
        let raw = Array(key.rawRepresentation)
        return ["kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
                "x": Base64URL.encode(raw[0..<32]), "y": Base64URL.encode(raw[32..<64])]
    }
}

/// The product's JWKS URL: a real HTTP server on loopback, whose keys the
/// test changes (a rotation) or makes fail (500), and which counts fetches.
final class KeySetServer: Sendable {
    private struct State {
        /// The JWKS's `keys`, as JSON.
        var keys = Data("[]".utf8)
        var failing = false
        var fetches = 0
    }

    private let state = Mutex(State())
    private let task: Task<Void, any Error>
    let url: String

    private init(task: Task<Void, any Error>, url: String) {
        self.task = task
        self.url = url
    }

    static func start() async throws -> KeySetServer {
        let holder = Mutex<KeySetServer?>(nil)
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let router = Router()
        router.get("/.well-known/jwks.json") { _, _ -> Response in
            guard let server = holder.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            return server.answer()
        }
        var logger = Logger(label: "key-set-server")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the key set server did not start") }
        let server = KeySetServer(task: task, url: "http://127.0.0.1:\(port)/.well-known/jwks.json")
        holder.withLock { $0 = server }
        return server
    }

    private func answer() -> Response {
        let (keys, failing) = state.withLock { state in
            state.fetches += 1
            return (state.keys, state.failing)
        }
        guard !failing else { return Response(status: .internalServerError) }
        var body = Data(#"{"keys":"#.utf8)
        body += keys
        body += Data("}".utf8)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    func publish(_ keys: [[String: Any]]) throws {
        let json = try JSONSerialization.data(withJSONObject: keys)
        state.withLock { $0.keys = json }
    }

    func fail(_ failing: Bool) { state.withLock { $0.failing = failing } }

    var fetches: Int { state.withLock { $0.fetches } }

    func stop() { task.cancel() }
}
