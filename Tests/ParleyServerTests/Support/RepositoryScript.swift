import Foundation
import ParleyBench

/// Runs bash scripts of the repository (scripts/lib/…) from its root, for
/// support that starts servers the tests do not own as children
/// (ThrowawayPostgres, Nginx).
enum RepositoryScript {
    /// The repository's root, from this file's place in it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Runs a script in the repository's root and returns what it printed.
    /// Its output goes to a file rather than a pipe, which a server the
    /// script leaves running would hold open for ever.
    @discardableResult
    static func run(_ script: String) throws -> String {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("parley-script-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let output = try FileHandle(forWritingTo: log)
        defer { try? output.close() }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "set -e\ncd \"$0\"\n" + script, root]
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
