import Foundation
import ParleyStore

/// A PostgreSQL cluster of a test's own, made with scripts/lib/postgres.sh
/// (Debian's PostgreSQL, a temporary folder, a free loopback port), so that
/// the test may restart or stop it without disturbing anything else.
final class ThrowawayPostgres: Sendable {
    let url: String
    private let directory: String
    private let pgctl: String

    init() throws {
        let output = try RepositoryScript.run("""
            source scripts/lib/postgres.sh
            postgres_start
            printf '%s\\n%s\\n%s\\n' "$POSTGRES_URL" "$POSTGRES_DIR" "$POSTGRES_PGCTL"
            """)
        let lines = output.split(separator: "\n").map(String.init)
        guard lines.count >= 3 else { throw TestFailure("the throwaway PostgreSQL did not start: \(output)") }
        (url, directory, pgctl) = (lines[lines.count - 3], lines[lines.count - 2], lines[lines.count - 1])
    }

    /// `pg_ctl restart` in the given mode: "fast" (sessions are ended, the
    /// server shuts down cleanly) or "immediate" (no clean shutdown: a crash
    /// as far as the data is concerned, recovered from the WAL at start).
    func restart(mode: String) throws {
        try pgctl(["-m", mode, "-w", "-t", "60", "-l", directory + "/server.log", "restart"])
    }

    /// Stops the server, keeping its data, until `resume()`.
    func pause() throws {
        try pgctl(["-m", "fast", "-w", "-t", "60", "stop"])
    }

    /// Starts the paused server again with its options (`restart` finds it
    /// stopped and starts it from postmaster.opts).
    func resume() throws {
        try restart(mode: "fast")
    }

    func stop() {
        try? pgctl(["-m", "immediate", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func pgctl(_ arguments: [String]) throws {
        // The options the cluster was started with are kept by pg_ctl in
        // postmaster.opts and used again by restart.
        let asPostgres = getuid() == 0 ? "runuser -u postgres -- " : ""
        _ = try RepositoryScript.run("\(asPostgres)\(pgctl) -D \(directory)/data \(arguments.joined(separator: " "))")
    }
}
