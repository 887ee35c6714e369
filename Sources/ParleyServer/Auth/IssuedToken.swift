import Crypto
import JWTKit
import ParleyCore
import ParleyStore

struct IssuedToken: Sendable {
    let token: String
    let id: String
    let expiresTS: Millis
}
