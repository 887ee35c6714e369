import Crypto
import JWTKit
import ParleyCore
import ParleyStore

struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
