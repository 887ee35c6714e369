import ArgumentParser
import Foundation
import ParleyStore

/// `parley migrate`: moves a SQLite database to PostgreSQL.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a SQLite database into an empty PostgreSQL database.",
        discussion: """
            Stop the server first. Everything is copied (accounts, tokens, bans, blocks, \
            conversations, members, messages with their seqs, read marks, and the signing key \
            kept beside the file), in batches, then checked: the row counts and every \
            conversation's last seq must match. If the copy is interrupted, run the same \
            command again: it goes on where it stopped. Servers refuse to start on the \
            PostgreSQL database until the copy is finished.
            """)

    @Option(help: "The SQLite database file to copy.")
    var from: String

    @Option(help: "The PostgreSQL database to copy into: postgres://user:password@host:port/dbname, empty.")
    var to: String

    @Option(help: "Rows per batch.")
    var batch: Int = 2_000

    func validate() throws {
        guard batch >= 1, batch <= 50_000 else { throw ValidationError("--batch must be 1 to 50000") }
        guard PostgresLocation.isURL(to) else { throw ValidationError("--to must be a postgres:// URL") }
    }

    func run() async throws {
        let target: PostgresLocation
        do {
            target = try PostgresLocation(url: to)
        } catch {
            throw ValidationError("--to: \(error)")
        }
        let move = SQLiteToPostgres(source: from, target: target, batchSize: batch)
        // Progress on standard error, a line at a time, unbuffered.
        _ = try await move.run { line in FileHandle.standardError.write(Data("\(line)\n".utf8)) }
    }
}
