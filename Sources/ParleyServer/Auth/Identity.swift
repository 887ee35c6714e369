import Crypto
import Foundation
import JWTKit
import ParleyCore
import ParleyStore
import Synchronization

/// Who a request or a session acts for.
struct Identity: Sendable {
    let account: Account
    let tokenID: String
    let expiresTS: Millis
}
