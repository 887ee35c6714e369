import Crypto
import Foundation
import ParleyCore
import ParleyStore

/// Turns list cursors into opaque tokens and back. A cursor holds row ids,
/// which never leave the server, so it travels encrypted and authenticated
/// (ChaCha20-Poly1305): clients can neither read nor forge one.
struct CursorSeal: Sendable {
    private let key: SymmetricKey

    /// The key is derived from the token-signing secret, so cursors outlive
    /// a restart exactly as long as tokens do.
    init(secret: [UInt8]) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), info: Data("parley conversation cursor v1".utf8), outputByteCount: 32)
    }

    func seal(_ cursor: ConversationCursor) -> String {
        // Sealing with a fresh random nonce cannot fail for a valid key.
        let box = try! ChaChaPoly.seal(cursor.bytes, using: key)
        return Base64URL.encode(Array(box.combined))
    }

    func open(_ token: String) -> ConversationCursor? {
        guard let bytes = Base64URL.decode(token),
            let box = try? ChaChaPoly.SealedBox(combined: bytes),
            let plain = try? ChaChaPoly.open(box, using: key)
        else { return nil }
        return ConversationCursor(bytes: Array(plain))
    }
}
