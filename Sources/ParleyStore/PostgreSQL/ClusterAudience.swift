import Synchronization

/// Whether any other node may be reading the event log, which decides if
/// this node writes its events there at all: a node alone (the usual
/// single-server deployment) skips the log's row and NOTIFY on every commit.
///
/// Another node counts from the beat that first sees its row until the
/// log's retention has passed since the last beat that saw one: a node
/// cut off for a while reads what it missed when it is back, as long as the
/// log keeps it. A node joining waits, before it takes sessions, until
/// every live node has beaten since it registered
/// (`PostgresPresence.waitUntilKnown`), so nothing meant for it goes unwritten.
final class ClusterAudience: Sendable {
    private let lastSeenOthers = Mutex<ContinuousClock.Instant?>(nil)
    private let keepFor: Duration

    /// `othersSeen`: what the first beat found.
    init(othersSeen: Bool, keepFor: Duration = .milliseconds(PostgresEventLog.retention)) {
        self.keepFor = keepFor
        if othersSeen { lastSeenOthers.withLock { $0 = .now } }
    }

    /// What a beat found.
    func beat(othersSeen: Bool) {
        if othersSeen { lastSeenOthers.withLock { $0 = .now } }
    }

    var othersMayRead: Bool {
        guard let last = lastSeenOthers.withLock({ $0 }) else { return false }
        return ContinuousClock.now - last < keepFor
    }
}
