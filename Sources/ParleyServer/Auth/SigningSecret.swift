import Crypto
import Foundation
import JWTKit
import ParleyCore
import ParleyStore

/// The key that signs tokens: given, or generated on first start and kept
/// so that tokens survive restarts: in the database when several processes
/// share it (PostgreSQL), else in a file beside it.
enum SigningSecret {
    static let minimumBytes = 32

    static func resolve(configured: String?, keyFile path: String, store: any ChatStore) async throws -> [UInt8] {
        if configured == nil, let shared = store as? any SharedSecrets {
            return try await shared.sharedSecret(named: "jwt-signing-key", orStore: newKey())
        }
        return try resolve(configured: configured, keyFile: path)
    }

    private static func newKey() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    static func resolve(configured: String?, keyFile path: String) throws -> [UInt8] {
        if let configured {
            let bytes = Array(configured.utf8)
            guard bytes.count >= minimumBytes else {
                throw ConfigurationError("the JWT secret must be at least \(minimumBytes) bytes long")
            }
            return bytes
        }
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let bytes = Base64URL.decode(existing.trimmingCharacters(in: .whitespacesAndNewlines)),
                bytes.count >= minimumBytes
            else {
                throw ConfigurationError("\(path) does not hold a valid key; delete it to make a new one (this signs everyone out)")
            }
            return bytes
        }
        let bytes = newKey()
        try KeyFile.write(Base64URL.encode(bytes) + "\n", to: path)
        return bytes
    }
}
