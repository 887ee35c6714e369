import Foundation
import Synchronization

/// A child process started with `posix_spawn`, in place of Foundation's
/// `Process`: on Linux, `Process.run()` lists /proc/self/fd with a copy of
/// 256 bytes per entry that can read past glibc's buffer, and crashes a test
/// run now and then (swift-corelibs-foundation#5472, fixed after Swift
/// 6.3.1; seen in the tests' CI). The properties are `Process`'s, for the
/// little the bench and the tests use. The bench starts nodes with thousands
/// of sockets open, where that copy had the most to read.
public final class ChildProcess: @unchecked Sendable {
    public enum TerminationReason { case exit, uncaughtSignal }

    // Set before `run()`, by one task.
    public var executableURL: URL?
    public var arguments: [String] = []
    /// nil: the test process's own.
    public var environment: [String: String]?
    /// `FileHandle` (`.nullDevice` included) or `Pipe`; nil: the test
    /// process's own.
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?

    public private(set) var processIdentifier: pid_t = 0
    /// The raw status from `waitpid`, once the child is reaped.
    private let reaped = Mutex<Int32?>(nil)

    public struct SpawnFailed: Error, CustomStringConvertible {
        public let description: String
    }

    public init() {}

    public func run() throws {
        guard let path = executableURL?.path else { throw SpawnFailed(description: "no executable") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var nullDevice: FileHandle?
        func descriptor(_ stream: Any?, reading: Bool) throws -> Int32? {
            switch stream {
            case let pipe as Pipe: return (reading ? pipe.fileHandleForReading : pipe.fileHandleForWriting).fileDescriptor
            case let handle as FileHandle where handle === FileHandle.nullDevice:
                nullDevice = try nullDevice ?? FileHandle(forUpdating: URL(fileURLWithPath: "/dev/null"))
                return nullDevice!.fileDescriptor
            case let handle as FileHandle: return handle.fileDescriptor
            default: return nil
            }
        }
        defer { try? nullDevice?.close() }
        for (stream, target, reading) in [(standardInput, STDIN_FILENO, true), (standardOutput, STDOUT_FILENO, false), (standardError, STDERR_FILENO, false)] {
            if let fd = try descriptor(stream, reading: reading) { posix_spawn_file_actions_adddup2(&actions, fd, target) }
        }
        // Nothing else of ours goes to the child: not our sockets, not the
        // other ends of its pipes (or reading them would never end).
        try Self.closeFrom(3, in: &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, as Process does: a ^C to the tests is not its.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environment = self.environment ?? ProcessInfo.processInfo.environment
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }

        var pid = pid_t()
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw SpawnFailed(description: "posix_spawn \(path): \(String(cString: strerror(result)))") }
        processIdentifier = pid
        // Our copies of the child's ends of its pipes.
        if let pipe = standardInput as? Pipe { try? pipe.fileHandleForReading.close() }
        if let pipe = standardOutput as? Pipe { try? pipe.fileHandleForWriting.close() }
        if let pipe = standardError as? Pipe { try? pipe.fileHandleForWriting.close() }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34), which
    /// Swift's Glibc module does not show.
    private static func closeFrom(_ first: Int32, in actions: inout posix_spawn_file_actions_t) throws {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
            throw SpawnFailed(description: "this glibc has no posix_spawn_file_actions_addclosefrom_np")
        }
        let result = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, first)
        guard result == 0 else { throw SpawnFailed(description: "addclosefrom: \(String(cString: strerror(result)))") }
    }

    /// Reaps the child if it has ended; the status once it has.
    private func poll() -> Int32? {
        reaped.withLock { status in
            if status == nil, processIdentifier > 0 {
                var raw: Int32 = 0
                if waitpid(processIdentifier, &raw, WNOHANG) == processIdentifier { status = raw }
            }
            return status
        }
    }

    public var isRunning: Bool { processIdentifier > 0 && poll() == nil }

    public func terminate() {
        if isRunning { kill(processIdentifier, SIGTERM) }
    }

    /// Blocks its thread: only for a child that is ending already (just
    /// killed); otherwise `exited()`.
    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }

    /// Waits for the child to end without holding one of the few threads
    /// a process's tasks share.
    public func exited() async {
        while isRunning { try? await Task.sleep(for: .milliseconds(10)) }
    }

    public var terminationStatus: Int32 {
        guard let raw = poll() else { return 0 }
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : raw & 0x7f
    }

    public var terminationReason: TerminationReason {
        guard let raw = poll() else { return .exit }
        return raw & 0x7f == 0 ? .exit : .uncaughtSignal
    }
}
