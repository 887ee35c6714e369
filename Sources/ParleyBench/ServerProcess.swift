// --spawn starts a server just for the run: a free loopback port, a
// throwaway database (SQLite in a temporary directory, or a fresh one on the
// PostgreSQL server --spawn-postgres names), and --send-rate 0 so that the
// per-user send limit does not cap the measurement. Its pid is kept for
// memory readings, and it is always stopped (SIGTERM, then SIGKILL). It is
// spawned with posix_spawn (`ChildProcess`), not Foundation's `Process`.
// `startNode` starts more nodes alike on the same PostgreSQL database (one
// server of several nodes, docs/PROTOCOL.md §8), and `crash` kills one -9.

import Foundation
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

public final class SpawnedServer: @unchecked Sendable {
    public let process: ChildProcess
    public let port: Int
    public let directory: URL
    public let logPath: String
    public let database: BenchDatabase
    public var pid: Int32 { process.processIdentifier }

    /// How the node was started, so that `startNode` starts another alike.
    struct Launch: Sendable {
        var binary: String
        var extraArguments: [String]
        var bcryptCost: Int
        var maxSessions: Int?
    }
    let launch: Launch

    /// Starts `binary serve` and waits up to `timeout` for it to answer HTTP.
    public static func start(binary: String, extraArguments: [String], bcryptCost: Int, maxSessions: Int?, postgres: String? = nil,
                             group: any EventLoopGroup, timeout: TimeAmount = .seconds(30)) async throws -> SpawnedServer {
        let port = try freePort()
        let dir = runDirectory(port: port)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let database = try await BenchDatabase.make(postgres: postgres, directory: dir, port: port)
        let launch = Launch(binary: binary, extraArguments: extraArguments, bcryptCost: bcryptCost, maxSessions: maxSessions)
        do {
            return try await Self.launch(launch, port: port, directory: dir, database: database, group: group, timeout: timeout)
        } catch {
            await database.remove()
            throw error
        }
    }

    /// Starts one more node, alike, on this server's PostgreSQL database
    /// (docs/PROTOCOL.md §8: nodes sharing a database are one server). The
    /// database stays this server's: the caller drops it once every node
    /// has stopped.
    public func startNode(group: any EventLoopGroup, timeout: TimeAmount = .seconds(60)) async throws -> SpawnedServer {
        guard case .postgres = database else {
            throw SpawnError(message: "several nodes need a shared PostgreSQL database (--spawn-postgres)")
        }
        let port = try freePort()
        let dir = Self.runDirectory(port: port)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try await Self.launch(launch, port: port, directory: dir, database: database, group: group, timeout: timeout)
    }

    private static func runDirectory(port: Int) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("parley-bench-\(getpid())-\(port)")
    }

    private static func launch(_ launch: Launch, port: Int, directory dir: URL, database: BenchDatabase,
                               group: any EventLoopGroup, timeout: TimeAmount) async throws -> SpawnedServer {
        let logPath = dir.appendingPathComponent("server.log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: launch.binary)
        var args = ["serve", "--host", "127.0.0.1", "--port", "\(port)",
                    "--database", database.argument,
                    "--send-rate", "0", "--bcrypt-cost", "\(launch.bcryptCost)", "--public", ""]
        if let maxSessions = launch.maxSessions { args += ["--max-sessions", "\(maxSessions)"] }
        args += launch.extraArguments
        process.arguments = args
        // Thousands of accounts and sockets from 127.0.0.1: the per-address
        // limits off. Given in the environment, which servers from before
        // those limits ignore, so that one bench compares both.
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["PARLEY_SIGNUP_RATE": "0", "PARLEY_MAX_UNAUTHENTICATED": "0"]) { $1 }
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let server = SpawnedServer(process: process, port: port, directory: dir, logPath: logPath, database: database, launch: launch)
        let probe = SetupClient(target: LoopbackTarget(host: "127.0.0.1", port: port), group: group)
        defer { Task { await probe.shutdown() } }
        let deadline = NIODeadline.now() + timeout
        while NIODeadline.now() < deadline {
            if !process.isRunning { break }
            if await probe.status(of: "/v1/me") != nil { return server }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        server.stop(keepFiles: true)
        throw SpawnError(message: "the server did not answer on port \(port) within \(timeout.nanoseconds / 1_000_000_000) s; log: \(logPath)")
    }

    init(process: ChildProcess, port: Int, directory: URL, logPath: String, database: BenchDatabase, launch: Launch) {
        self.process = process
        self.launch = launch
        self.database = database
        self.port = port
        self.directory = directory
        self.logPath = logPath
    }

    /// SIGTERM (the server drains within 10 s), then SIGKILL after 15 s.
    public func stop(keepFiles: Bool = false) {
        Self.stop([self], keepFiles: keepFiles)
    }

    /// Stops several nodes together: SIGTERM to all, then SIGKILL to those
    /// still running after 15 s, so that their drains overlap.
    public static func stop(_ servers: [SpawnedServer], keepFiles: Bool = false) {
        for s in servers where s.process.isRunning { kill(s.pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(15)
        while servers.contains(where: { $0.process.isRunning }), Date() < deadline { usleep(50_000) }
        for s in servers {
            if s.process.isRunning { kill(s.pid, SIGKILL) }
            s.process.waitUntilExit()
            if !keepFiles { try? FileManager.default.removeItem(at: s.directory) }
        }
    }

    /// kill -9, like a crash or a power cut: no drain, no close frames.
    public func crash() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        process.waitUntilExit()
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
