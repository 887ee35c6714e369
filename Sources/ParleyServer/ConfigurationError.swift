import Crypto
import Foundation
import JWTKit
import ParleyCore
import ParleyStore
import Synchronization

struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
