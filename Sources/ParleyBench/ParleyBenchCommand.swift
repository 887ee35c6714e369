import ArgumentParser

/// `parley-bench`: load scenarios against a Parley server on this machine,
/// speaking only the public contract (docs/PROTOCOL.md).
public struct ParleyBenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "parley-bench",
        abstract: "Benchmark a Parley server on this machine (loopback only).",
        subcommands: [FanoutCommand.self, DurableCommand.self, ConnectionsCommand.self, ReconnectCommand.self, FailoverCommand.self, SignupFloodCommand.self]
    )

    public init() {}
}
