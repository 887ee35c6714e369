import ParleyCore

/// How to check the tokens the product's own auth service issues
/// (`--jwt-hs256-secret`, `--jwt-jwks-url`, `--jwt-issuer`,
/// `--jwt-audience`). At least one of the secret and the key set URL.
public struct ProductTokenSettings: Sendable {
    /// HS256: the secret the product signs with (at least 32 bytes).
    public var hs256Secret: [UInt8]?
    /// RS256 and ES256: where the product publishes its public keys.
    public var jwksURL: String?
    /// When set, `iss` must be exactly this.
    public var issuer: String?
    /// When set, `aud` must name this (required with a key set URL: the
    /// product's auth service signs tokens for other audiences too).
    public var audience: String?
    /// Clock difference forgiven on `exp` and `nbf`.
    public var leeway: Millis = 60_000
    /// An unknown `kid` fetches the key set again, at most this often.
    public var keyRefreshInterval: Duration = .seconds(60)
    /// A key set older than this is fetched again when next needed (its
    /// keys are still used until the new one is in).
    public var keyMaxAge: Duration = .seconds(3600)
    /// A key set fetch that takes longer fails (and the old keys stay).
    public var keyFetchTimeout: Duration = .seconds(5)

    public init(hs256Secret: [UInt8]? = nil, jwksURL: String? = nil, issuer: String? = nil, audience: String? = nil) {
        self.hs256Secret = hs256Secret
        self.jwksURL = jwksURL
        self.issuer = issuer
        self.audience = audience
    }
}
