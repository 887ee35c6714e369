import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL
import ParleyCore

/// Sends one plain-text mail per call over a real SMTP conversation: EHLO,
/// STARTTLS when offered (then EHLO again), AUTH PLAIN when a user is set
/// (over TLS only), MAIL FROM, RCPT TO, DATA, QUIT. The whole conversation
/// has `settings.timeout`.
struct SMTPMailer: Sendable {
    let settings: MailSettings

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func send(to recipient: String, subject: String, body: String) async throws {
        let replies = SMTPReplyReader()
        let tls = try settings.security == .implicitTLS ? makeTLSHandler() : nil
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(tls) }
                    try channel.pipeline.syncOperations.addHandlers(ByteToMessageHandler(LineBasedFrameDecoder()), replies)
                }
            }
            .connect(host: settings.host, port: settings.port).get()
        // The deadline and a cancelled task both close the channel: that
        // fails whatever reply the conversation is waiting for, so it ends.
        let timedOut = NIOLockedValueBox(false)
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(settings.timeout)) {
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        do {
            try await withTaskCancellationHandler {
                try await converse(on: channel, replies: replies, secure: tls != nil, to: recipient, subject: subject, body: body)
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch where timedOut.withLockedValue({ $0 }) {
            throw Failure(description: "the SMTP conversation took longer than \(settings.timeout)")
        }
    }

    private func converse(
        on channel: any Channel, replies: SMTPReplyReader, secure: Bool, to recipient: String, subject: String, body: String
    ) async throws {
        let conversation = Conversation(channel: channel, replies: replies)
        try await conversation.expect(220, after: nil)
        var features = try await conversation.expect(250, after: "EHLO parley")
        var secure = secure
        if !secure, features.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) {
            try await conversation.expect(220, after: "STARTTLS")
            try await channel.pipeline.addHandler(try makeTLSHandler(), position: .first).get()
            secure = true
            features = try await conversation.expect(250, after: "EHLO parley")
        }
        if let username = settings.username {
            guard secure else { throw Failure(description: "the SMTP server offers no TLS: the password is not sent in clear") }
            let credentials = Data("\0\(username)\0\(settings.password ?? "")".utf8).base64EncodedString()
            try await conversation.expect(235, after: "AUTH PLAIN \(credentials)", logged: "AUTH PLAIN …")
        }
        try await conversation.expect(250, after: "MAIL FROM:<\(settings.from)>")
        try await conversation.expect([250, 251], after: "RCPT TO:<\(recipient)>")
        try await conversation.expect(354, after: "DATA")
        try await conversation.expect(250, after: Self.message(from: settings.from, to: recipient, subject: subject, body: body) + "\r\n.")
        _ = try? await conversation.expect(221, after: "QUIT")
    }

    private func makeTLSHandler() throws -> NIOSSLClientHandler {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let file = settings.trustedCAFile { configuration.trustRoots = .file(file) }
        // An address is not a name to send (SNI): the certificate is then
        // checked against the address itself.
        let isAddress = (try? SocketAddress(ipAddress: settings.host, port: 0)) != nil
        return try NIOSSLClientHandler(
            context: try NIOSSLContext(configuration: configuration), serverHostname: isAddress ? nil : settings.host)
    }

    /// The mail as DATA sends it: headers, a blank line, the body with CRLF
    /// line ends and every line starting with "." doubled (RFC 5321 4.5.2).
    static func message(from: String, to: String, subject: String, body: String) -> String {
        let lines = [
            "From: <\(from)>", "To: <\(to)>", "Subject: \(subject)", "Date: \(rfc5322(Date()))", "Message-ID: <\(OpaqueID.make())@parley>",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
        ] + body.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasPrefix(".") ? "." + $0 : String($0) }
        return lines.joined(separator: "\r\n")
    }

    static func rfc5322(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }

    /// One command, one reply, in turn.
    private struct Conversation {
        let channel: any Channel
        let replies: SMTPReplyReader

        /// Sends `command` (nil: only waits, for the greeting) and returns
        /// the reply's lines if its code is one of `codes`.
        @discardableResult
        func expect(_ codes: [Int], after command: String?, logged: String? = nil) async throws -> [String] {
            if let command { try await channel.writeAndFlush(ByteBuffer(string: command + "\r\n")) }
            let reply = try await replies.next()
            guard codes.contains(reply.code) else {
                throw Failure(description: "SMTP \(logged ?? command?.prefix(40).description ?? "greeting"): \(reply.code) \(reply.lines.joined(separator: " "))")
            }
            return reply.lines
        }

        @discardableResult
        func expect(_ code: Int, after command: String?, logged: String? = nil) async throws -> [String] {
            try await expect([code], after: command, logged: logged)
        }
    }
}
