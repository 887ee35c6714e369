// --spawn starts a server just for the run: a free loopback port, a
// throwaway database (SQLite in a temporary directory, or a fresh one on the
// PostgreSQL server --spawn-postgres names), and --send-rate 0 so that the
// per-user send limit does not cap the measurement. Its pid is kept for
// memory readings, and it is always stopped (SIGTERM, then SIGKILL).

import Foundation
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

public final class SpawnedServer: @unchecked Sendable {
    public let process: Process
    public let port: Int
    public let directory: URL
    public let logPath: String
    public let database: BenchDatabase
    public var pid: Int32 { process.processIdentifier }

    /// Starts `binary serve` and waits up to `timeout` for it to answer HTTP.
    public static func start(binary: String, extraArguments: [String], bcryptCost: Int, maxSessions: Int?, postgres: String? = nil,
                             group: any EventLoopGroup, timeout: TimeAmount = .seconds(30)) async throws -> SpawnedServer {
        let port = try freePort()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-bench-\(getpid())-\(port)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let logPath = dir.appendingPathComponent("server.log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let database = try await BenchDatabase.make(postgres: postgres, directory: dir, port: port)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        var args = ["serve", "--host", "127.0.0.1", "--port", "\(port)",
                    "--database", database.argument,
                    "--send-rate", "0", "--bcrypt-cost", "\(bcryptCost)", "--public", ""]
        if let maxSessions { args += ["--max-sessions", "\(maxSessions)"] }
        args += extraArguments
        process.arguments = args
        // Thousands of accounts and sockets from 127.0.0.1: the per-address
        // limits off. Given in the environment, which servers from before
        // those limits ignore, so that one bench compares both.
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["PARLEY_SIGNUP_RATE": "0", "PARLEY_MAX_UNAUTHENTICATED": "0"]) { $1 }
        process.standardOutput = log
        process.standardError = log
        do {
            try process.run()
        } catch {
            await database.remove()
            throw error
        }
        let server = SpawnedServer(process: process, port: port, directory: dir, logPath: logPath, database: database)
        let probe = SetupClient(target: LoopbackTarget(host: "127.0.0.1", port: port), group: group)
        defer { Task { await probe.shutdown() } }
        let deadline = NIODeadline.now() + timeout
        while NIODeadline.now() < deadline {
            if !process.isRunning { break }
            if await probe.status(of: "/v1/me") != nil { return server }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        server.stop()
        await database.remove()
        throw SpawnError(message: "the server did not answer on port \(port) within \(timeout.nanoseconds / 1_000_000_000) s; log: \(logPath)")
    }

    init(process: Process, port: Int, directory: URL, logPath: String, database: BenchDatabase) {
        self.process = process
        self.database = database
        self.port = port
        self.directory = directory
        self.logPath = logPath
    }

    /// SIGTERM (the server drains within 10 s), then SIGKILL after 15 s.
    public func stop(keepFiles: Bool = false) {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning, Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        if !keepFiles { try? FileManager.default.removeItem(at: directory) }
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A port the kernel reports free on 127.0.0.1 (bind to port 0, read, close).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SpawnError(message: "socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw SpawnError(message: "bind() failed") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

public enum ProcessMemory {
    /// VmRSS of a process in bytes, from /proc/PID/status; nil if unreadable.
    public static func residentBytes(pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kb = Int(fields[1]) { return kb * 1024 }
        }
        return nil
    }

    /// Raises this process's open-file limit to its hard limit: every
    /// session is a socket. Returns the new soft limit.
    @discardableResult
    public static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return -1 }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Int(limit.rlim_cur)
    }
}
