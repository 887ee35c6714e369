import NIOCore
import ParleyCore
import Synchronization

/// When a connection last received anything. The `SocketWriter` at the front
/// of the pipeline touches it for every read: any bytes count, pongs and
/// partial frames included.
final class Liveness: Sendable {
    private let lastRead = Atomic<UInt64>(NIODeadline.now().uptimeNanoseconds)

    func touch() {
        lastRead.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed)
    }

    /// Whether anything arrived after `instant` (an `uptimeNanoseconds` reading).
    func readSince(_ instant: UInt64) -> Bool {
        lastRead.load(ordering: .relaxed) > instant
    }
}
