import Crypto
import Foundation
import JWTKit
import Logging
import ParleyCore

/// Checks bearer tokens issued by the product's own auth service: HS256
/// with a shared secret, RS256 and ES256 with keys from its JWKS URL.
///
/// The algorithm is the key's, never the token's to choose: the header's
/// `alg` must be the one the chosen key checks, so `none`, HS256 signed
/// with an RSA public key as the secret, and any other algorithm are
/// refused before a signature is looked at.
final class ProductTokens: Sendable {
    /// The claims Parley reads. `exp` is required; the times and the
    /// audience are checked by `check`, on this server's clock.
    struct Claims: JWTPayload {
        let sub: SubjectClaim
        let exp: ExpirationClaim
        let nbf: NotBeforeClaim?
        let iss: IssuerClaim?
        let aud: AudienceClaim?
        let preferredUsername: String?
        let name: String?

        enum CodingKeys: String, CodingKey {
            case sub, exp, nbf, iss, aud, name
            case preferredUsername = "preferred_username"
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    private let settings: ProductTokenSettings
    private let secretKeys: JWTKeyCollection?
    let keySet: ProductKeySet?

    init(settings: ProductTokenSettings, logger: Logger) async {
        self.settings = settings
        if let secret = settings.hs256Secret {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(key: SymmetricKey(data: secret)), digestAlgorithm: .sha256)
            self.secretKeys = keys
        } else {
            self.secretKeys = nil
        }
        self.keySet = settings.jwksURL.map { ProductKeySet(url: $0, settings: settings, logger: logger) }
    }

    /// The claims of a valid product token, checked at `now`; nil for
    /// anything else.
    func verify(_ token: String, header: TokenHeader, now: Millis) async -> Claims? {
        let keys: JWTKeyCollection
        switch header.alg {
        case "HS256":
            guard let secretKeys else { return nil }
            keys = secretKeys
        case "RS256", "ES256":
            guard let kid = header.kid, let key = await keySet?.key(for: kid), key.algorithm == header.alg else { return nil }
            keys = key.keys
        default:
            return nil
        }
        guard let claims = try? await keys.verify(token, as: Claims.self), check(claims, now: now) else { return nil }
        return claims
    }

    func check(_ claims: Claims, now: Millis) -> Bool {
        guard Self.millis(claims.exp.value) + settings.leeway > now else { return false }
        if let nbf = claims.nbf, Self.millis(nbf.value) - settings.leeway > now { return false }
        if let issuer = settings.issuer, claims.iss?.value != issuer { return false }
        if let audience = settings.audience, claims.aud?.value.contains(audience) != true { return false }
        return true
    }

    /// How long a session of this token may last: its `exp`, with the
    /// leeway it was accepted with.
    func expiry(of claims: Claims) -> Millis {
        Self.millis(claims.exp.value) + settings.leeway
    }

    static func millis(_ date: Date) -> Millis {
        Millis((date.timeIntervalSince1970 * 1000).rounded(.down))
    }
}
