import ArgumentParser
import Foundation
import Logging
import ParleyCore
import ParleyServer
import ParleyStore

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A real-time chat server.",
        subcommands: [Serve.self, Migrate.self],
        defaultSubcommand: Serve.self)
}
