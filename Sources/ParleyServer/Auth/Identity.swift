import Crypto
import JWTKit
import ParleyCore
import ParleyStore

/// Who a request or a session acts for.
struct Identity: Sendable {
    let account: Account
    let tokenID: String
    let expiresTS: Millis
    /// Whether the token is the product's (`ProductTokens`), not ours.
    let external: Bool
}
