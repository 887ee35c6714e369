import Dispatch
import GRDB
import ParleyCore

/// One unit of work for the write lane.
protocol LaneJob: Sendable {
    /// Runs inside the batch transaction, on the writer. Returns what to
    /// report once the batch has committed. Throwing means the database
    /// itself failed: the whole batch is rolled back and every job is
    /// abandoned. Refusals (not a member, bad input) are not thrown: they
    /// are part of the report.
    func perform(_ db: Database, _ cache: LaneCache) throws -> CommitReport
    /// The batch this job was in did not commit.
    func abandon(_ error: any Error)
}
