import ArgumentParser
import Foundation
import Logging
import ParleyCore
import ParleyServer
import ParleyStore

/// `parley serve`. Every option can also come from the environment
/// (`PARLEY_` + the option's name in upper case); a flag wins over the
/// environment, which wins over the default.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the chat server (the default command).")

    @Option(help: "Address to listen on. [env: PARLEY_HOST] (default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on. [env: PARLEY_PORT] (default: 8080)")
    var port: Int?

    @Option(help: "Path of the SQLite database file, created if missing, or a postgres://user:password@host:port/dbname URL. [env: PARLEY_DATABASE] (default: parley.sqlite)")
    var database: String?

    @Option(help: "Folder of the browser client served at /, empty for none. [env: PARLEY_PUBLIC] (default: Public)")
    var `public`: String?

    @Option(help: "Secret (at least 32 bytes) that signs tokens. [env: PARLEY_JWT_SECRET] (default: a random key kept in <database>.jwt-key)")
    var jwtSecret: String?

    @Option(help: "Seconds a new WebSocket has to authenticate. [env: PARLEY_AUTH_TIMEOUT] (default: 5)")
    var authTimeout: Double?

    @Option(help: "Seconds an HTTP request body has to arrive whole before 408. [env: PARLEY_REQUEST_BODY_TIMEOUT] (default: 30)")
    var requestBodyTimeout: Double?

    @Option(help: "bcrypt cost for new passwords, at least 10. [env: PARLEY_BCRYPT_COST] (default: 12)")
    var bcryptCost: Int?

    @Option(help: "Chat requests: on makes conversations from strangers wait to be accepted. [env: PARLEY_CHAT_REQUESTS] (default: off)")
    var chatRequests: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. [env: PARLEY_LOG_LEVEL] (default: info)")
    var logLevel: String?

    @Option(help: "Messages per second per user, 0 for no limit. [env: PARLEY_SEND_RATE] (default: 1)")
    var sendRate: Double?

    @Option(help: "Messages a user may send in a burst. [env: PARLEY_SEND_BURST] (default: 5)")
    var sendBurst: Int?

    @Option(help: "Refused frames within 10 s before a socket is closed (4429). [env: PARLEY_FLOOD_STRIKES] (default: 20)")
    var floodStrikes: Int?

    @Option(help: "Minutes a user closed for flooding 3 times in 10 minutes is banned. [env: PARLEY_BAN_MINUTES] (default: 10)")
    var banMinutes: Double?

    @Option(help: "Longest message, in characters. [env: PARLEY_MAX_MESSAGE_CHARS] (default: 4000)")
    var maxMessageChars: Int?

    @Option(help: "File of words refused in messages, one per line. [env: PARLEY_BANNED_WORDS_FILE] (default: none)")
    var bannedWordsFile: String?

    @Option(help: "Links in messages: allow or deny. [env: PARLEY_LINKS] (default: allow)")
    var links: String?

    @Option(help: "Largest WebSocket message and HTTP body, in bytes. [env: PARLEY_MAX_FRAME_BYTES] (default: 65536)")
    var maxFrameBytes: Int?

    @Option(help: "Open WebSocket sessions per user. [env: PARLEY_MAX_SESSIONS] (default: 20)")
    var maxSessions: Int?

    @Option(help: "Seconds between pings; a socket silent for two is closed (4408); 0 for none. [env: PARLEY_PING_INTERVAL] (default: 25)")
    var pingInterval: Double?

    @Option(help: "Bytes queued for a session whose socket takes no more before it is closed as too slow (1008); 4 times that at any time. [env: PARLEY_MAX_QUEUED_BYTES] (default: 1048576)")
    var maxQueuedBytes: Int?

    @Option(help: "Accounts created per client address per hour, 0 for no limit. [env: PARLEY_SIGNUP_RATE] (default: 20)")
    var signupRate: Int?

    @Option(help: "Load balancers whose X-Forwarded-For names the client: CIDR[,CIDR…]. [env: PARLEY_TRUSTED_PROXIES] (default: none)")
    var trustedProxies: String?

    @Option(help: "WebSocket sockets per client address still without ready, 0 for no limit. [env: PARLEY_MAX_UNAUTHENTICATED] (default: 100)")
    var maxUnauthenticated: Int?

    @Option(help: "Accept the product's HS256 tokens signed with this secret (at least 32 bytes). [env: PARLEY_JWT_HS256_SECRET] (default: none)")
    var jwtHs256Secret: String?

    @Option(help: "Accept the product's RS256 and ES256 tokens, with keys from this JWKS URL; needs --jwt-audience. [env: PARLEY_JWT_JWKS_URL] (default: none)")
    var jwtJwksUrl: String?

    @Option(help: "The iss the product's tokens must carry. [env: PARLEY_JWT_ISSUER] (default: not checked)")
    var jwtIssuer: String?

    @Option(help: "The aud the product's tokens must name. [env: PARLEY_JWT_AUDIENCE] (default: not checked)")
    var jwtAudience: String?

    @Option(help: "Least seconds between fetches of the JWKS for an unknown kid. [env: PARLEY_JWT_JWKS_REFRESH] (default: 60)")
    var jwtJwksRefresh: Double?

    @Option(help: "Key (at least 32 characters) the product's backend calls /v1/service/ with; without one those routes answer 404. [env: PARLEY_SERVICE_KEY] (default: none)")
    var serviceKey: String?

    @Option(help: "Mail server for log-in codes: smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://…; needs --mail-from. [env: PARLEY_SMTP_URL] (default: none, no log-in codes)")
    var smtpUrl: String?

    @Option(help: "The From address of log-in code mails. [env: PARLEY_MAIL_FROM] (default: none)")
    var mailFrom: String?

    @Option(help: "PEM file of the certificate authorities the mail server's certificate is checked against. [env: PARLEY_SMTP_CA_FILE] (default: the system's)")
    var smtpCaFile: String?

    @Option(help: "Accounts with a handle and password: on, or off to sign in only through the product. [env: PARLEY_ACCOUNTS] (default: on)")
    var accounts: String?

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
        if let folder = setting(`public`, "PUBLIC") {
            // Named on purpose: a folder that is not there is a mistake, not
            // a wish for the API only (that is ""). Only the default may be
            // missing, for a server started outside the project's folder.
            guard folder.isEmpty || BrowserClient.isFolder(folder) else {
                throw ValidationError("no browser client folder at '\(folder)': name an existing folder, or \"\" to serve the API only")
            }
            configuration.publicDirectory = folder
        }
        if let seconds = try number(authTimeout, "AUTH_TIMEOUT", Double.self) {
            guard seconds > 0 else { throw ValidationError("the auth timeout must be more than 0 seconds") }
            configuration.authTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let seconds = try number(requestBodyTimeout, "REQUEST_BODY_TIMEOUT", Double.self) {
            guard seconds > 0, seconds <= 3600 else { throw ValidationError("the request body timeout must be between 0 and 3600 seconds") }
            configuration.requestBodyTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let cost = try number(bcryptCost, "BCRYPT_COST", Int.self) {
            guard (10...31).contains(cost) else { throw ValidationError("the bcrypt cost must be between 10 and 31") }
            configuration.bcryptCost = UInt8(cost)
        }
        switch setting(chatRequests, "CHAT_REQUESTS") ?? "off" {
        case "on": configuration.limits.chatRequests = true
        case "off": configuration.limits.chatRequests = false
        case let other: throw ValidationError("chat requests must be 'on' or 'off', not '\(other)'")
        }
        try applyAbuseControls(to: &configuration, number: number, setting: setting)
        try applyProductTokens(to: &configuration, number: number, setting: setting)
        let location: DatabaseLocation
        do {
            location = try DatabaseLocation(configuration.databasePath)
        } catch {
            throw ValidationError("--database: \(error)")
        }

        var logger = Logger(label: "parley")
        let level = setting(logLevel, "LOG_LEVEL") ?? "info"
        guard let parsedLevel = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level '\(level)'") }
        logger.logLevel = parsedLevel

        let host = configuration.host
        let database = location.description
        let store = try await location.open(limits: configuration.limits, logger: logger)
        let app = try await buildApplication(configuration, store: store, logger: logger) { port in
            // Written unbuffered: scripts and tests wait for this line.
            FileHandle.standardOutput.write(Data("Parley is listening on http://\(host):\(port) (database: \(database))\n".utf8))
        }
        try await app.runService()
    }

    private func applyProductTokens(
        to configuration: inout ServerConfiguration,
        number: (Double?, String, Double.Type) throws -> Double?,
        setting: (String?, String) -> String?
    ) throws {
        let secret = setting(jwtHs256Secret, "JWT_HS256_SECRET")
        let url = setting(jwtJwksUrl, "JWT_JWKS_URL")
        var product = ProductTokenSettings(
            hs256Secret: secret.map { Array($0.utf8) }, jwksURL: url, issuer: setting(jwtIssuer, "JWT_ISSUER"),
            audience: setting(jwtAudience, "JWT_AUDIENCE"))
        if let secret, secret.utf8.count < 32 {
            throw ValidationError("the product's HS256 secret must be at least 32 bytes")
        }
        if let url {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased()), parsed.host != nil else {
                throw ValidationError("--jwt-jwks-url must be an http:// or https:// URL, not '\(url)'")
            }
            guard product.audience != nil else {
                throw ValidationError("--jwt-jwks-url needs --jwt-audience: the product's auth service signs tokens for other audiences too")
            }
        }
        if let refresh = try number(jwtJwksRefresh, "JWT_JWKS_REFRESH", Double.self) {
            guard refresh >= 0, refresh <= 86_400 else { throw ValidationError("the JWKS refresh must be between 0 and 86400 seconds") }
            product.keyRefreshInterval = .milliseconds(Int64(refresh * 1000))
        }
        let external = secret != nil || url != nil
        if !external, product.issuer != nil || product.audience != nil {
            throw ValidationError("--jwt-issuer and --jwt-audience check the product's tokens: give --jwt-hs256-secret or --jwt-jwks-url too")
        }
        configuration.productTokens = external ? product : nil
        if let url = setting(smtpUrl, "SMTP_URL") {
            guard let from = setting(mailFrom, "MAIL_FROM") else { throw ValidationError("--smtp-url needs --mail-from") }
            do {
                var mail = try MailSettings(url: url, from: from)
                mail.trustedCAFile = setting(smtpCaFile, "SMTP_CA_FILE")
                configuration.mail = mail
            } catch {
                throw ValidationError(error.description)
            }
        }
        if let key = setting(serviceKey, "SERVICE_KEY") {
            guard key.count >= 32 else { throw ValidationError("the service key must be at least 32 characters") }
            configuration.serviceKey = key
        }
        switch setting(accounts, "ACCOUNTS") ?? "on" {
        case "on": configuration.passwordAccounts = true
        case "off":
            guard external || configuration.serviceKey != nil || configuration.mail != nil else {
                throw ValidationError(
                    "--accounts off leaves no way to sign in: accept the product's tokens (--jwt-hs256-secret or --jwt-jwks-url), give a --service-key or an --smtp-url")
            }
            configuration.passwordAccounts = false
        case let other: throw ValidationError("accounts must be 'on' or 'off', not '\(other)'")
        }
    }

    private func applyAbuseControls(
        to configuration: inout ServerConfiguration,
        number: (Double?, String, Double.Type) throws -> Double?,
        setting: (String?, String) -> String?
    ) throws {
        func count(_ flag: Int?, _ name: String, _ label: String, minimum: Int) throws -> Int? {
            guard let value = try number(flag.map(Double.init), name, Double.self) else { return nil }
            guard value == value.rounded(), value >= Double(minimum), value <= Double(Int32.max) else {
                throw ValidationError("\(label) must be a whole number of at least \(minimum)")
            }
            return Int(value)
        }
        func seconds(_ value: Double, _ label: String) throws -> Duration {
            guard value >= 0, value <= 1e7 else { throw ValidationError("\(label) must be 0 or more") }
            return .milliseconds(Int64(value * 1000))
        }
        var abuse = configuration.abuse
        if let rate = try number(sendRate, "SEND_RATE", Double.self) {
            guard rate >= 0, rate.isFinite else { throw ValidationError("the send rate must be 0 or more") }
            abuse.sendRate = rate
        }
        abuse.sendBurst = try count(sendBurst, "SEND_BURST", "the send burst", minimum: 1) ?? abuse.sendBurst
        abuse.floodStrikes = try count(floodStrikes, "FLOOD_STRIKES", "the flood strikes", minimum: 1) ?? abuse.floodStrikes
        if let minutes = try number(banMinutes, "BAN_MINUTES", Double.self) {
            abuse.banDuration = try seconds(minutes * 60, "the ban minutes")
        }
        if let chars = try count(maxMessageChars, "MAX_MESSAGE_CHARS", "the longest message", minimum: 1) {
            configuration.limits.maxMessageChars = chars
        }
        var words: [String] = []
        if let path = setting(bannedWordsFile, "BANNED_WORDS_FILE") {
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read the banned words file '\(path)'")
            }
            words = ContentPolicy.words(fromFile: contents)
        }
        let linkSetting = setting(links, "LINKS") ?? ContentPolicy.Links.allow.rawValue
        guard let linkMode = ContentPolicy.Links(rawValue: linkSetting) else {
            throw ValidationError("links must be 'allow' or 'deny', not '\(linkSetting)'")
        }
        abuse.content = ContentPolicy(bannedWords: words, links: linkMode)
        configuration.maxFrameBytes = try count(maxFrameBytes, "MAX_FRAME_BYTES", "the largest frame", minimum: 1024) ?? configuration.maxFrameBytes
        abuse.maxSessionsPerUser = try count(maxSessions, "MAX_SESSIONS", "the sessions per user", minimum: 1) ?? abuse.maxSessionsPerUser
        abuse.signupRate = try count(signupRate, "SIGNUP_RATE", "the sign-up rate", minimum: 0) ?? abuse.signupRate
        abuse.maxUnauthenticated = try count(
            maxUnauthenticated, "MAX_UNAUTHENTICATED", "the unauthenticated sockets per address", minimum: 0) ?? abuse.maxUnauthenticated
        if let list = setting(trustedProxies, "TRUSTED_PROXIES") {
            do {
                abuse.trustedProxies = try TrustedProxies(parsing: list)
            } catch {
                throw ValidationError("trusted proxies: \(error)")
            }
        }
        if let interval = try number(pingInterval, "PING_INTERVAL", Double.self) {
            abuse.pingInterval = try seconds(interval, "the ping interval")
        }
        configuration.maxQueuedBytes = try count(maxQueuedBytes, "MAX_QUEUED_BYTES", "the queued bytes", minimum: 1024) ?? configuration.maxQueuedBytes
        configuration.abuse = abuse
    }
}
