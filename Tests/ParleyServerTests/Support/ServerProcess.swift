import Foundation
import ParleyStore
import ParleyBench

/// The real `parley` binary, run as a child process, so that a test can kill
/// it with SIGKILL and start it again on the same database.
final class ServerProcess: Sendable {
    let port: Int
    private let process: ChildProcess

    private init(port: Int, process: ChildProcess) {
        self.port = port
        self.process = process
    }

    /// `parley` is built beside the test bundle (the test target depends on it).
    static var binary: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            Bundle.main.bundleURL,
        ]
        for directory in candidates {
            let url = directory.appendingPathComponent("parley")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return candidates[0].appendingPathComponent("parley")
    }

    /// `jwtSecret: nil` lets the server make (or read) its key file beside the database.
    static func start(
        database: String, arguments: [String] = [], environment: [String: String] = [:],
        jwtSecret: String? = TestDatabase.jwtSecret
    ) async throws -> ServerProcess {
        // Beside a SQLite file; in the temporary folder for a PostgreSQL URL.
        let outputBase = PostgresLocation.isURL(database) ? FileManager.default.temporaryDirectory.appendingPathComponent("parley").path : database
        let output = URL(fileURLWithPath: outputBase + ".stdout-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: output.path, contents: nil) else {
            throw TestFailure("cannot create \(output.path)")
        }
        let process = ChildProcess()
        process.executableURL = binary
        process.arguments = [
            "serve", "--port", "0", "--database", database, "--bcrypt-cost", "10", "--log-level", "warning", "--send-rate", "0",
        ] + (jwtSecret.map { ["--jwt-secret", $0] } ?? []) + arguments
        // Suites sign up more than 20 users from 127.0.0.1: no sign-up limit
        // unless a test asks for one (a flag wins over the environment).
        process.environment = ProcessInfo.processInfo.environment.merging(["PARLEY_SIGNUP_RATE": "0"]) { $1 }
            .merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = FileHandle.standardError
        try process.run()
        // The server prints "Parley is listening on http://HOST:PORT …" once bound.
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                let port = Int(text[range].split(separator: ":").last!)!
                return ServerProcess(port: port, process: process)
            }
            guard process.isRunning else { throw TestFailure("parley exited early: \(text)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw TestFailure("parley did not start within 30 s")
    }

    /// SIGKILL: no shutdown code runs, exactly like a crash or power cut of
    /// the process.
    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then waits for the process to exit; returns how long that
    /// took. Nothing is sent to a process that has exited already.
    @discardableResult
    func terminate() -> Duration {
        guard process.isRunning else { return .zero }
        let start = ContinuousClock.now
        process.terminate()
        process.waitUntilExit()
        return ContinuousClock.now - start
    }

    /// SIGTERM, then waits at most `limit` for the process to exit; if it
    /// has not, SIGKILL. Answers whether it exited by itself in time: for
    /// tests of a server that might hang (a plain `terminate()` would block
    /// the test for ever).
    func terminate(within limit: Duration) async -> Bool {
        process.terminate()
        let deadline = ContinuousClock.now + limit
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        guard process.isRunning else { return true }
        kill()
        return false
    }

    var exitStatus: Int32 { process.terminationStatus }

    /// The server's resident memory now, from /proc (Linux).
    var residentBytes: Int {
        get throws {
            let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
            else { throw TestFailure("no VmRSS in /proc/\(process.processIdentifier)/status") }
            return kilobytes * 1024
        }
    }
}

/// Runs `parley` to completion, for options it refuses at once or commands
/// that end by themselves. Its output goes to a file rather than a pipe read
/// to its end: that read, like a blocking wait, would hold one of the test
/// process's few task threads for as long as the command runs.
func runParley(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("parley-run-\(UUID().uuidString).log")
    FileManager.default.createFile(atPath: output.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: output) }
    let handle = try FileHandle(forWritingTo: output)
    let process = ChildProcess()
    process.executableURL = ServerProcess.binary
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = handle
    process.standardError = handle
    do {
        try process.run()
        try handle.close()
    } catch {
        try? handle.close()
        throw error
    }
    await process.exited()
    return (process.terminationStatus, try String(contentsOf: output, encoding: .utf8))
}
