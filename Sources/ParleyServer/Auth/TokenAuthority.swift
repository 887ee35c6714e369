import Crypto
import Foundation
import JWTKit
import ParleyCore
import ParleyStore
import Synchronization

/// Issues, checks and revokes bearer tokens: HS256 JWTs, each with an opaque
/// id (`jti`) so that one token can be revoked without touching the others.
/// With `ProductTokens`, it also takes the product's own tokens, for the
/// user their `sub` names (made on first use); such a token is known by a
/// hash of itself, which is what revoking it records.
///
/// Revocations are stored before they take effect and kept in memory, so
/// checking a token costs no database read for the revocation.
final class TokenAuthority: Sendable {
    struct Claims: JWTPayload {
        let sub: SubjectClaim
        let jti: IDClaim
        let iat: IssuedAtClaim
        let exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    private let keys: JWTKeyCollection
    private let store: any ChatStore
    private let lifetime: Millis
    private let now: @Sendable () -> Millis
    private let revoked: Mutex<Set<String>>
    let product: ProductTokens?
    private let limits: ChatLimits

    private init(
        keys: JWTKeyCollection, store: any ChatStore, lifetime: Millis, now: @escaping @Sendable () -> Millis, revoked: Set<String>,
        product: ProductTokens?, limits: ChatLimits
    ) {
        self.keys = keys
        self.store = store
        self.lifetime = lifetime
        self.now = now
        self.revoked = Mutex(revoked)
        self.product = product
        self.limits = limits
    }

    static func make(
        secret: [UInt8], store: any ChatStore, lifetime: Millis, now: @escaping @Sendable () -> Millis,
        product: ProductTokens? = nil, limits: ChatLimits = ChatLimits()
    ) async throws -> TokenAuthority {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(key: SymmetricKey(data: secret)), digestAlgorithm: .sha256)
        let revoked = Set(try await store.revokedTokenIDs())
        return TokenAuthority(keys: keys, store: store, lifetime: lifetime, now: now, revoked: revoked, product: product, limits: limits)
    }

    func issue(for account: Account, lifetime: Millis? = nil) async throws -> IssuedToken {
        let id = OpaqueID.make()
        // JWT times are whole seconds; keep `expires_ts` equal to `exp`.
        let issued = now() / 1000 * 1000
        let expires = issued + (lifetime ?? self.lifetime)
        let claims = Claims(
            sub: SubjectClaim(value: account.user.id),
            jti: IDClaim(value: id),
            iat: IssuedAtClaim(value: Self.date(issued)),
            exp: ExpirationClaim(value: Self.date(expires)))
        let token = try await keys.sign(claims)
        try await store.recordToken(TokenRecord(id: id, user: account.key, issuedTS: issued, expiresTS: expires))
        return IssuedToken(token: token, id: id, expiresTS: expires)
    }

    /// The identity a token stands for; `unauthorized` for anything that is
    /// not a valid, unexpired, unrevoked token of an existing user: one of
    /// ours, or, when configured, one of the product's.
    func authenticate(_ token: String) async throws(ChatError) -> Identity {
        // A JWT is a few hundred bytes (a product's, with its claims, a
        // little more); don't parse megabytes.
        guard !token.isEmpty, token.utf8.count <= 8192, let header = TokenHeader(token: token) else { throw .unauthorized }
        // Ours are HS256 without a kid: only those are tried with our key.
        if header.alg == "HS256", header.kid == nil, let claims = try? await keys.verify(token, as: Claims.self) {
            return try await identity(
                tokenID: claims.jti.value, expiresTS: Millis(claims.exp.value.timeIntervalSince1970 * 1000), external: false
            ) { store throws in try await store.account(id: claims.sub.value) }
        }
        guard let product, let claims = await product.verify(token, header: header, now: now()),
            let externalID = try? ExternalIdentity.externalID(claims.sub.value)
        else { throw .unauthorized }
        let limits = self.limits
        return try await identity(tokenID: Self.productTokenID(token), expiresTS: product.expiry(of: claims), external: true) { store in
            if let account = try await store.account(externalID: externalID) { return account }
            return try await store.provisionAccount(ExternalAccount(
                externalID: externalID, handles: ExternalIdentity.handleCandidates(preferred: claims.preferredUsername),
                displayName: ExternalIdentity.displayName(claims.name, limits: limits))).account
        }
    }

    private func identity(
        tokenID: String, expiresTS: Millis, external: Bool, account find: (any ChatStore) async throws -> Account?
    ) async throws(ChatError) -> Identity {
        guard !isRevoked(tokenID) else { throw .unauthorized }
        let account: Account?
        do {
            account = try await find(store)
        } catch {
            throw ChatError(.unavailable, "cannot check the token right now")
        }
        guard let account else { throw .unauthorized }
        return Identity(account: account, tokenID: tokenID, expiresTS: expiresTS, external: external)
    }

    /// A product token has no id of ours: it is known by its hash, which
    /// says nothing of it and cannot be used in its place.
    static func productTokenID(_ token: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(token.utf8))))
    }

    /// A revocation heard from a node (this one or another).
    func noteRevoked(_ tokenID: String) {
        revoked.withLock { _ = $0.insert(tokenID) }
    }

    func isRevoked(_ tokenID: String) -> Bool {
        revoked.withLock { $0.contains(tokenID) }
    }

    /// Durable first, then effective everywhere in this process. A product
    /// token is recorded first, so that it can be revoked like ours.
    func revoke(_ identity: Identity) async throws {
        if identity.external {
            try await store.recordToken(
                TokenRecord(id: identity.tokenID, user: identity.account.key, issuedTS: now(), expiresTS: identity.expiresTS))
        }
        _ = try await store.revokeToken(id: identity.tokenID)
        revoked.withLock { _ = $0.insert(identity.tokenID) }
    }

    private static func date(_ millis: Millis) -> Date {
        Date(timeIntervalSince1970: Double(millis) / 1000)
    }
}
