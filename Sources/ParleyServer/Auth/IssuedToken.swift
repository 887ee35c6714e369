import Crypto
import Foundation
import JWTKit
import ParleyCore
import ParleyStore
import Synchronization

struct IssuedToken: Sendable {
    let token: String
    let id: String
    let expiresTS: Millis
}
