import ArgumentParser
import Foundation
import Logging
import ParleyServer

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A real-time chat server.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self)
}

/// `parley serve`. Every option can also come from the environment
/// (`PARLEY_` + the option's name in upper case); a flag wins over the
/// environment, which wins over the default.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the chat server (the default command).")

    @Option(help: "Address to listen on. [env: PARLEY_HOST] (default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on. [env: PARLEY_PORT] (default: 8080)")
    var port: Int?

    @Option(help: "Path of the SQLite database file, created if missing. [env: PARLEY_DATABASE] (default: parley.sqlite)")
    var database: String?

    @Option(help: "Secret (at least 32 bytes) that signs tokens. [env: PARLEY_JWT_SECRET] (default: a random key kept in <database>.jwt-key)")
    var jwtSecret: String?

    @Option(help: "Seconds a new WebSocket has to authenticate. [env: PARLEY_AUTH_TIMEOUT] (default: 5)")
    var authTimeout: Double?

    @Option(help: "bcrypt cost for new passwords, at least 10. [env: PARLEY_BCRYPT_COST] (default: 12)")
    var bcryptCost: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. [env: PARLEY_LOG_LEVEL] (default: info)")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func setting(_ flag: String?, _ name: String) -> String? { flag ?? environment["PARLEY_" + name] }
        func number<T: LosslessStringConvertible>(_ flag: T?, _ name: String, _ type: T.Type) throws -> T? {
            if let flag { return flag }
            guard let raw = environment["PARLEY_" + name] else { return nil }
            guard let value = T(raw) else { throw ValidationError("PARLEY_\(name) must be a number, not '\(raw)'") }
            return value
        }

        var configuration = ServerConfiguration()
        configuration.host = setting(host, "HOST") ?? configuration.host
        configuration.port = try number(port, "PORT", Int.self) ?? configuration.port
        configuration.databasePath = setting(database, "DATABASE") ?? configuration.databasePath
        configuration.jwtSecret = setting(jwtSecret, "JWT_SECRET")
        if let seconds = try number(authTimeout, "AUTH_TIMEOUT", Double.self) {
            guard seconds > 0 else { throw ValidationError("the auth timeout must be more than 0 seconds") }
            configuration.authTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let cost = try number(bcryptCost, "BCRYPT_COST", Int.self) {
            guard (10...31).contains(cost) else { throw ValidationError("the bcrypt cost must be between 10 and 31") }
            configuration.bcryptCost = UInt8(cost)
        }
        if configuration.databasePath.hasPrefix("postgres://") || configuration.databasePath.hasPrefix("postgresql://") {
            throw ValidationError("PostgreSQL is not supported yet: --database takes the path of a SQLite file")
        }

        var logger = Logger(label: "parley")
        let level = setting(logLevel, "LOG_LEVEL") ?? "info"
        guard let parsedLevel = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level '\(level)'") }
        logger.logLevel = parsedLevel

        let host = configuration.host
        let database = configuration.databasePath
        let app = try await buildApplication(configuration, logger: logger) { port in
            // Written unbuffered: scripts and tests wait for this line.
            FileHandle.standardOutput.write(Data("Parley is listening on http://\(host):\(port) (database: \(database))\n".utf8))
        }
        try await app.runService()
    }
}
