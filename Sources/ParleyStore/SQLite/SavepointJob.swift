import Dispatch
import GRDB
import ParleyCore

struct SavepointJob<T: Sendable>: LaneJob {
    let body: @Sendable (Database, LaneCache) throws -> (T, Publication?)
    let continuation: CheckedContinuation<T, any Error>

    func perform(_ db: Database, _ cache: LaneCache) throws -> CommitReport {
        // Let the body read what earlier jobs of this batch wrote.
        try cache.flushDirty(db)
        let result: Result<T, any Error>
        var publication: Publication?
        do {
            var value: T?
            try db.inSavepoint {
                (value, publication) = try body(db, cache)
                return .commit
            }
            result = .success(value!)
        } catch let error as ChatError {
            result = .failure(error)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            result = .failure(error)
        }
        // Any other error is the database failing: let the batch roll back.
        let continuation = self.continuation
        return CommitReport(conversation: publication?.conversation, event: publication?.event) {
            continuation.resume(with: result)
        }
    }

    func abandon(_ error: any Error) {
        continuation.resume(throwing: error)
    }
}
