// What every scenario needs: the target server (spawned or given), the
// event loops, the WebSocket connector, the HTTP setup client, and the
// per-loop stats. Built once per run and always torn down, even on failure.

import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

public struct CommonOptions: ParsableArguments {
    @Option(help: "Server to target (loopback only: 127.0.0.0/8, ::1, localhost).")
    public var server: String = "http://127.0.0.1:8080"

    @Option(help: "Start this parley binary on a free port with a throwaway database and --send-rate 0, and stop it after.")
    public var spawn: String?

    @Option(help: "With --spawn: run the server on this PostgreSQL server (postgres://…, loopback only), in a database made for the run and dropped after.")
    public var spawnPostgres: String?

    @Option(parsing: .unconditionalSingleValue, help: "Extra argument for the spawned server (repeatable), e.g. --server-arg=--log-level --server-arg=warning.")
    public var serverArg: [String] = []

    @Option(help: "bcrypt cost of the spawned server (its minimum is 10).")
    public var bcryptCost: Int = 10

    @Option(help: "Pid of a server you started, for memory and CPU readings from /proc.")
    public var serverPid: Int32?

    @Option(help: "Event-loop threads of the bench (default: number of cores).")
    public var threads: Int?

    @Option(help: "Client source addresses 127.0.0.2… to spread sockets over (each has ~28,000 ephemeral ports); 0 lets the kernel pick.")
    public var sourceAddresses: Int = 8

    @Option(help: "Sign-ups at once (bcrypt makes them slow).")
    public var signupConcurrency: Int = 8

    @Option(help: "WebSocket connects at once.")
    public var connectConcurrency: Int = 200

    @Flag(help: "Print the result as JSON instead of a table.")
    public var json = false

    @Flag(name: .shortAndLong, help: "Progress on stderr while running.")
    public var verbose = false

    public init() {}
}

/// Hard bounds so that no option turns the bench into an unbounded load.
public enum Bounds {
    public static let maxDuration = 600.0
    public static let maxDrain = 120.0

    public static func duration(_ seconds: Double) throws -> Double {
        guard seconds > 0, seconds <= maxDuration else {
            throw ValidationError("--duration must be more than 0 and at most \(Int(maxDuration)) s")
        }
        return seconds
    }

    public static func drain(_ seconds: Double) throws -> Double {
        guard seconds >= 0, seconds <= maxDrain else {
            throw ValidationError("--drain must be 0 to \(Int(maxDrain)) s")
        }
        return seconds
    }
}

public final class BenchEnvironment: Sendable {
    public let group: MultiThreadedEventLoopGroup
    public let target: LoopbackTarget
    public let connector: Connector
    public let setup: SetupClient
    public let board: StatsBoard
    public let spawned: SpawnedServer?
    /// With `nodes` > 1: every spawned node, `spawned` first, all on its
    /// database; and a connector for each, in the same order.
    public let nodes: [SpawnedServer]
    public let connectors: [Connector]
    public let serverPID: Int32?
    public let verbose: Bool
    public let fileLimit: Int
    public let signupConcurrency: Int
    public let connectConcurrency: Int

    /// Builds the environment, runs `body`, and always tears down. `nodes`
    /// > 1 spawns that many nodes on one PostgreSQL database (needs --spawn
    /// and --spawn-postgres).
    public static func with<T: Sendable>(_ options: CommonOptions, maxSessions: Int? = nil, nodes nodeCount: Int = 1,
                                         _ body: @Sendable (BenchEnvironment) async throws -> T) async throws -> T {
        let fileLimit = ProcessMemory.raiseFileLimit()
        let threads = max(1, options.threads ?? System.coreCount)
        if nodeCount > 1, options.spawn == nil || options.spawnPostgres == nil {
            throw ValidationError("several nodes need --spawn and --spawn-postgres (they share one PostgreSQL database)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var spawned: SpawnedServer?
        var nodes: [SpawnedServer] = []
        do {
            let target: LoopbackTarget
            if let binary = options.spawn {
                let server = try await SpawnedServer.start(binary: binary, extraArguments: options.serverArg,
                                                           bcryptCost: options.bcryptCost, maxSessions: maxSessions,
                                                           postgres: options.spawnPostgres, group: group)
                spawned = server
                nodes = [server]
                // One after another: a joining node waits for the live ones' beats.
                while nodes.count < nodeCount { nodes.append(try await server.startNode(group: group)) }
                target = LoopbackTarget(host: "127.0.0.1", port: server.port)
            } else {
                target = try Loopback.parse(options.server)
            }
            let connector = try Connector(group: group, target: target, sourceAddresses: options.sourceAddresses)
            let connectors = try [connector] + nodes.dropFirst().map {
                try Connector(group: group, target: LoopbackTarget(host: "127.0.0.1", port: $0.port), sourceAddresses: options.sourceAddresses)
            }
            let env = BenchEnvironment(group: group, target: target, connector: connector,
                                       setup: SetupClient(target: target, group: group), board: StatsBoard(group: group),
                                       spawned: spawned, nodes: nodes, connectors: connectors,
                                       serverPID: spawned?.pid ?? options.serverPid,
                                       verbose: options.verbose, fileLimit: fileLimit,
                                       signupConcurrency: max(1, options.signupConcurrency),
                                       connectConcurrency: max(1, options.connectConcurrency))
            env.progress("target \(target.httpBase)\(env.serverPID.map { " (pid \($0))" } ?? ""), \(threads) bench threads, open-file limit \(fileLimit)")
            if nodes.count > 1 {
                env.progress("\(nodes.count) nodes: " + nodes.map { "127.0.0.1:\($0.port) (pid \($0.pid))" }.joined(separator: ", "))
            }
            do {
                let result = try await body(env)
                await env.setup.shutdown()
                SpawnedServer.stop(nodes)
                await spawned?.database.remove()
                try await group.shutdownGracefully()
                return result
            } catch {
                await env.setup.shutdown()
                throw error
            }
        } catch {
            if let spawned {
                for node in nodes { FileHandle.standardError.write(Data("server log: \(node.logPath) (kept)\n".utf8)) }
                SpawnedServer.stop(nodes, keepFiles: true)
                await spawned.database.remove()
            }
            try? await group.shutdownGracefully()
            throw error
        }
    }

    init(group: MultiThreadedEventLoopGroup, target: LoopbackTarget, connector: Connector, setup: SetupClient,
         board: StatsBoard, spawned: SpawnedServer?, nodes: [SpawnedServer], connectors: [Connector], serverPID: Int32?, verbose: Bool, fileLimit: Int,
         signupConcurrency: Int, connectConcurrency: Int) {
        self.signupConcurrency = signupConcurrency
        self.connectConcurrency = connectConcurrency
        self.group = group
        self.target = target
        self.connector = connector
        self.setup = setup
        self.board = board
        self.spawned = spawned
        self.nodes = nodes
        self.connectors = connectors
        self.serverPID = serverPID
        self.verbose = verbose
        self.fileLimit = fileLimit
    }

    public func progress(_ line: String) {
        guard verbose else { return }
        FileHandle.standardError.write(Data("[parley-bench] \(line)\n".utf8))
    }

    public func serverResidentBytes() -> Int? {
        serverPID.flatMap { ProcessMemory.residentBytes(pid: $0) }
    }

    /// CPU seconds of the server: with several nodes, summed over those running.
    public func serverCPUSeconds() -> Double? {
        if nodes.count > 1 { return nodes.compactMap { processCPUSeconds(pid: $0.pid) }.reduce(0, +) }
        return serverPID.flatMap { processCPUSeconds(pid: $0) }
    }

    /// Common report parameters.
    public func describe(into report: inout Report) {
        report.parameters["server"] = target.httpBase
        if spawned != nil { report.parameters["spawned"] = "yes" }
        if let pid = serverPID { report.parameters["server_pid"] = "\(pid)" }
    }
}

/// Prints a report as a table or JSON.
public func emit(_ report: Report, json: Bool) {
    print(json ? report.json() : report.table())
}
