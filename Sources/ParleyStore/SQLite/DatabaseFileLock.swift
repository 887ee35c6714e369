import Foundation
import GRDB
import ParleyCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock held until the store closes.
final class DatabaseFileLock: Sendable {
    private let descriptor: Mutex<Int32?>

    init(path: String) throws {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ChatError(.unavailable, "cannot open lock file \(path): errno \(errno)")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(descriptor)
            throw ChatError(.unavailable, "the database is in use by another Parley process (lock file \(path))")
        }
        self.descriptor = Mutex(descriptor)
    }

    func release() {
        descriptor.withLock { descriptor in
            if let open = descriptor {
                // Unlock explicitly: a child process spawned meanwhile may
                // briefly share the descriptor, and closing ours alone
                // would leave the lock held until the child lets go.
                flock(open, LOCK_UN)
                Glibc.close(open)
            }
            descriptor = nil
        }
    }

    deinit {
        release()
    }
}
