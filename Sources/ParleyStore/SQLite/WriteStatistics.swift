import Dispatch
import GRDB
import ParleyCore

/// Counts of the lane's work: with group commit, `jobs` grows faster than
/// `transactions` whenever writes arrive concurrently.
public struct WriteStatistics: Sendable, Equatable {
    /// Transactions begun (one fsync each when they commit).
    public var transactions = 0
    /// Writes they carried: messages, read marks, and every other write.
    public var jobs = 0
}
