import Foundation
import ParleyCore

/// The header of a JWT, read before any key is chosen: its `alg` and
/// `kid` decide which key may check it, and nothing else does.
struct TokenHeader: Sendable, Decodable {
    let alg: String
    let kid: String?

    /// nil for anything that is not three base64url parts with a JSON
    /// header naming an algorithm.
    init?(token: String) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64URL.decode(parts[0]),
            let header = try? JSONDecoder().decode(TokenHeader.self, from: Data(bytes))
        else { return nil }
        self = header
    }
}
