import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import NIOCore
import ParleyCore
import Synchronization

/// The product's public keys, from its JWKS URL, by `kid`.
///
/// Fetched on first need and kept. A `kid` not in the set fetches it again
/// (a key rotation), at most once per `keyRefreshInterval` so that tokens
/// with made-up kids cannot make the server hammer the URL; a set older
/// than `keyMaxAge` is fetched again when next used. When a fetch fails
/// (timeout, error status, bad JSON), the keys already held stay in use.
final class ProductKeySet: Sendable {
    /// One key, and the only algorithm it checks.
    struct Key: Sendable {
        let algorithm: String
        let keys: JWTKeyCollection
    }

    private struct State {
        var keys: [String: Key] = [:]
        var fetchedAt: ContinuousClock.Instant?
        var lastAttempt: ContinuousClock.Instant?
        var fetching: Task<Void, Never>?
    }

    private let url: String
    private let settings: ProductTokenSettings
    private let logger: Logger
    private let state = Mutex(State())
    /// Key set fetches tried, for tests and logs.
    private let attempts = Atomic<Int>(0)

    init(url: String, settings: ProductTokenSettings, logger: Logger) {
        self.url = url
        self.settings = settings
        self.logger = logger
    }

    var fetchAttempts: Int { attempts.load(ordering: .relaxed) }

    func key(for kid: String) async -> Key? {
        let (key, old) = state.withLock { state in
            (state.keys[kid], state.fetchedAt.map { ContinuousClock.now - $0 > settings.keyMaxAge } ?? true)
        }
        if let key, !old { return key }
        await fetchIfAllowed()
        return state.withLock { $0.keys[kid] }
    }

    /// One fetch at a time; callers arriving meanwhile wait for it.
    private func fetchIfAllowed() async {
        let fetch = state.withLock { state -> Task<Void, Never>? in
            if let fetching = state.fetching { return fetching }
            let now = ContinuousClock.now
            if let last = state.lastAttempt, now - last < settings.keyRefreshInterval { return nil }
            state.lastAttempt = now
            let task = Task { await self.fetch() }
            state.fetching = task
            return task
        }
        await fetch?.value
    }

    private func fetch() async {
        attempts.add(1, ordering: .relaxed)
        do {
            let keys = try await Self.download(url, timeout: settings.keyFetchTimeout)
            state.withLock { state in
                state.keys = keys
                state.fetchedAt = .now
                state.fetching = nil
            }
            logger.info("product key set fetched", metadata: ["keys": "\(keys.count)"])
        } catch {
            let held = state.withLock { state in
                state.fetching = nil
                return state.keys.count
            }
            logger.warning("product key set fetch failed; keeping the keys held", metadata: ["error": "\(error)", "held": "\(held)"])
        }
    }

    struct FetchFailed: Error, CustomStringConvertible {
        let description: String
    }

    private static func download(_ url: String, timeout: Duration) async throws -> [String: Key] {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: url), timeout: TimeAmount(timeout))
        guard response.status == .ok else { throw FetchFailed(description: "status \(response.status.code)") }
        let body = try await response.body.collect(upTo: 1 << 20)
        let set = try JSONDecoder().decode(JWKS.self, from: Data(buffer: body))
        var keys: [String: Key] = [:]
        for jwk in set.keys {
            guard let kid = jwk.keyIdentifier?.string, let algorithm = algorithm(of: jwk) else { continue }
            let collection = JWTKeyCollection()
            guard (try? await collection.add(jwk: jwk)) != nil else { continue }
            keys[kid] = Key(algorithm: algorithm, keys: collection)
        }
        return keys
    }

    /// RS256 for an RSA key, ES256 for a P-256 key; the JWK's own `alg`, if
    /// it has one, must agree. Other keys are not used.
    static func algorithm(of jwk: JWK) -> String? {
        let named = jwk.algorithm?.rawValue
        switch jwk.keyType {
        case .rsa where named == nil || named == "RS256": return "RS256"
        case .ecdsa where jwk.curve?.rawValue == "P-256" && (named == nil || named == "ES256"): return "ES256"
        default: return nil
        }
    }
}
