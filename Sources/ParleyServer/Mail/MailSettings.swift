import Foundation

/// Where log-in codes are mailed from (`--smtp-url`, `--mail-from`).
public struct MailSettings: Sendable {
    public enum Security: Sendable, Equatable {
        /// `smtp://`: STARTTLS whenever the server offers it.
        case startTLSIfOffered
        /// `smtps://`: TLS from the first byte.
        case implicitTLS
    }

    public let host: String
    public let port: Int
    public let security: Security
    /// From the URL's user part: `AUTH PLAIN`, only ever over TLS.
    public let username: String?
    public let password: String?
    public let from: String
    /// PEM file of the certificate authorities the SMTP server's
    /// certificate is checked against; nil: the system's.
    public var trustedCAFile: String?
    /// The whole conversation, connect to QUIT.
    public var timeout: Duration = .seconds(20)

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// `smtp://[user:password@]host[:port]` (port 25, or 587 with a user)
    /// or `smtps://…` (port 465).
    public init(url: String, from: String) throws(Invalid) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else { throw Invalid(description: "--smtp-url must be smtp://host[:port] or smtps://host[:port], not '\(url)'") }
        switch scheme {
        case "smtp": security = .startTLSIfOffered
        case "smtps": security = .implicitTLS
        default: throw Invalid(description: "--smtp-url must start with smtp:// or smtps://")
        }
        self.host = host
        username = components.user.flatMap { $0.removingPercentEncoding }
        password = components.password.flatMap { $0.removingPercentEncoding }
        port = components.port ?? (security == .implicitTLS ? 465 : username == nil ? 25 : 587)
        guard !from.isEmpty, !from.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "<" || $0 == ">" }), from.contains("@") else {
            throw Invalid(description: "--mail-from must be an e-mail address, not '\(from)'")
        }
        self.from = from
    }
}
