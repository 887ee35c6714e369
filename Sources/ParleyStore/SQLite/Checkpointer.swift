import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Copies the write-ahead log into the database file on a connection of its
/// own, beside the write lane.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that fills the log
/// past 1,000 pages: that commit, and the acks waiting on it, would wait for
/// the copy and the database file's fsync, and every write queued behind it
/// too. Moved here, commits pay for the log's fsync only. A PASSIVE
/// checkpoint never blocks the writer; once it has copied the whole log,
/// the writer's next commit starts the log over. Durability is unchanged:
/// a commit is on disk once its log pages are.
final class Checkpointer: Sendable {
    /// Log pages that start a checkpoint: SQLite's own default.
    static let logPagesPerCheckpoint: Int32 = 1000

    private let connection: DatabaseQueue
    private let running = Atomic(false)
    private let completed = Atomic(0)
    /// Set on the connection's own queue, so a checkpoint queued behind the
    /// close sees it before touching the closed connection.
    private let closed = Atomic(false)

    init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(5)
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Checkpoints run so far.
    var checkpoints: Int { completed.load(ordering: .relaxed) }

    /// Takes over checkpointing from the writer connection `db`, once, when
    /// the lane is made: the lane keeps this object alive for as long as it
    /// commits (the hook holds it unretained).
    func watch(_ db: Database) {
        sqlite3_wal_hook(
            db.sqliteConnection,
            { context, _, _, logPages in
                if logPages >= Checkpointer.logPagesPerCheckpoint, let context {
                    Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue().start()
                }
                return SQLITE_OK
            },
            Unmanaged.passUnretained(self).toOpaque())
    }

    private func start() {
        guard !running.exchange(true, ordering: .acquiring) else { return }
        DispatchQueue.global(qos: .utility).async { [self] in
            defer { running.store(false, ordering: .releasing) }
            // A failed checkpoint loses nothing: the log keeps the pages and
            // the next commit past the threshold tries again.
            let ran = try? connection.writeWithoutTransaction { db -> Bool in
                guard !closed.load(ordering: .relaxed) else { return false }
                try db.checkpoint(.passive)
                return true
            }
            if ran == true { completed.add(1, ordering: .relaxed) }
        }
    }

    func close() throws {
        try connection.writeWithoutTransaction { _ in closed.store(true, ordering: .relaxed) }
        try connection.close()
    }
}
