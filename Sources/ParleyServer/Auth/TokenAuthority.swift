import Crypto
import Foundation
import JWTKit
import ParleyCore
import ParleyStore
import Synchronization

/// Issues, checks and revokes bearer tokens: HS256 JWTs, each with an opaque
/// id (`jti`) so that one token can be revoked without touching the others.
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

    private init(keys: JWTKeyCollection, store: any ChatStore, lifetime: Millis, now: @escaping @Sendable () -> Millis, revoked: Set<String>) {
        self.keys = keys
        self.store = store
        self.lifetime = lifetime
        self.now = now
        self.revoked = Mutex(revoked)
    }

    static func make(secret: [UInt8], store: any ChatStore, lifetime: Millis, now: @escaping @Sendable () -> Millis) async throws -> TokenAuthority {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(key: SymmetricKey(data: secret)), digestAlgorithm: .sha256)
        let revoked = Set(try await store.revokedTokenIDs())
        return TokenAuthority(keys: keys, store: store, lifetime: lifetime, now: now, revoked: revoked)
    }

    func issue(for account: Account) async throws -> IssuedToken {
        let id = OpaqueID.make()
        // JWT times are whole seconds; keep `expires_ts` equal to `exp`.
        let issued = now() / 1000 * 1000
        let expires = issued + lifetime
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
    /// not a valid, unexpired, unrevoked token of an existing user.
    func authenticate(_ token: String) async throws(ChatError) -> Identity {
        // A JWT of ours is a few hundred bytes; don't parse megabytes.
        guard !token.isEmpty, token.utf8.count <= 4096 else { throw .unauthorized }
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch {
            throw .unauthorized
        }
        let tokenID = claims.jti.value
        guard !isRevoked(tokenID) else { throw .unauthorized }
        let account: Account?
        do {
            account = try await store.account(id: claims.sub.value)
        } catch {
            throw ChatError(.unavailable, "cannot check the token right now")
        }
        guard let account else { throw .unauthorized }
        return Identity(account: account, tokenID: tokenID, expiresTS: Millis(claims.exp.value.timeIntervalSince1970 * 1000))
    }

    /// A revocation heard from a node (this one or another).
    func noteRevoked(_ tokenID: String) {
        revoked.withLock { _ = $0.insert(tokenID) }
    }

    func isRevoked(_ tokenID: String) -> Bool {
        revoked.withLock { $0.contains(tokenID) }
    }

    /// Durable first, then effective everywhere in this process.
    func revoke(_ identity: Identity) async throws {
        _ = try await store.revokeToken(id: identity.tokenID)
        revoked.withLock { _ = $0.insert(identity.tokenID) }
    }

    private static func date(_ millis: Millis) -> Date {
        Date(timeIntervalSince1970: Double(millis) / 1000)
    }
}
