import Crypto
import HummingbirdBcrypt
import NIOPosix
import ParleyCore

/// bcrypt, run on NIO's blocking thread pool so that a login (tens to
/// hundreds of milliseconds of CPU) never stalls an event loop, and admitted
/// by a `HashingQueue` so that a flood of them is refused, not queued.
///
/// The password is first reduced with SHA-256, so that every byte of a long
/// passphrase counts: bcrypt alone ignores everything after 72 bytes.
struct PasswordHasher: Sendable {
    let cost: UInt8
    let queue: HashingQueue
    /// Verified against when the handle does not exist, so that a wrong
    /// handle takes as long as a wrong password and reveals nothing.
    private let decoy: String

    /// `parley serve` refuses a cost below 10; lower ones (down to bcrypt's
    /// minimum, 4) exist only so that test suites creating hundreds of
    /// accounts stay fast.
    init(cost: UInt8, queue: HashingQueue) {
        precondition((4...31).contains(cost), "bcrypt cost must be between 4 and 31")
        self.cost = cost
        self.queue = queue
        self.decoy = Bcrypt.hash(OpaqueID.make(), cost: cost)
    }

    func hash(_ password: String) async throws -> String {
        let input = Self.prehash(password)
        let cost = self.cost
        return try await queue.run(.signUp) {
            try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(input, cost: cost) }
        }
    }

    /// Compares against `hash`, or against a decoy when there is none.
    func verify(_ password: String, against hash: String?) async throws -> Bool {
        let input = Self.prehash(password)
        let target = hash ?? decoy
        let matches = try await queue.run(.logIn) {
            try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(input, hash: target) }
        }
        return matches && hash != nil
    }

    private static func prehash(_ password: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(password.utf8))))
    }
}
