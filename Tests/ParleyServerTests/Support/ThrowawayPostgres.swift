import Foundation
import ParleyStore

/// A PostgreSQL cluster of a test's own, made with scripts/lib/postgres.sh
/// (Debian's PostgreSQL, a temporary folder, a free loopback port), so that
/// the test may restart or stop it without disturbing anything else.
final class ThrowawayPostgres: Sendable {
    let url: String
    private let directory: String
    private let pgctl: String

    /// The repository's root, from this file's place in it.
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    init() throws {
        let output = try Self.bash("""
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
        _ = try Self.bash("\(asPostgres)\(pgctl) -D \(directory)/data \(arguments.joined(separator: " "))")
    }

    /// Runs a script and returns what it printed. The server that pg_ctl
    /// leaves running inherits the script's descriptors: Foundation's Process
    /// learns that its child ended when a socket it shares with the child is
    /// closed, so the script closes every descriptor above 2 first, and its
    /// output goes to a file rather than a pipe that would never end.
    @discardableResult
    private static func bash(_ script: String) throws -> String {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("parley-pgctl-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let output = try FileHandle(forWritingTo: log)
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", """
            for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
            set -e
            """ + "\n" + script]
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let printed = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else { throw TestFailure("failed (\(process.terminationStatus)): \(script)\n\(printed)") }
        return printed
    }
}
