import Crypto
import Foundation
import Logging
import ParleyCore
import ParleyStore
import Synchronization

/// Log-in codes by e-mail: asked for, mailed, redeemed once.
///
/// A code is kept only as an HMAC keyed with the server's signing secret,
/// so the database alone does not give codes away (six digits are quickly
/// tried against a plain hash). Asking is throttled by address and by
/// client address; every address is answered alike (202), whether an
/// account has it or not, and the mail goes out after the answer.
final class LoginCodes: Sendable {
    private let store: any ChatStore
    private let mailer: SMTPMailer
    private let key: SymmetricKey
    private let now: @Sendable () -> Millis
    private let logger: Logger
    private let byAddress = Mutex<[String: EventWindow]>([:])
    private let byClient = Mutex<[String: EventWindow]>([:])

    init(store: any ChatStore, mailer: SMTPMailer, secret: [UInt8], now: @escaping @Sendable () -> Millis, logger: Logger) {
        self.store = store
        self.mailer = mailer
        self.key = SymmetricKey(data: secret)
        self.now = now
        self.logger = logger
    }

    /// Records a new code for `email` and mails it (in the background: the
    /// caller answers at once). Throws `rate_limited` past the throttles.
    func send(to email: String, purpose: LoginCodeRecord.Purpose, client: String?) async throws {
        try Self.admit(email, into: byAddress, limit: LoginCodePolicy.requestsPerAddress, "codes were sent to this address")
        if let client {
            try Self.admit(client, into: byClient, limit: LoginCodePolicy.requestsPerClient, "codes were asked for from this address")
        }
        let code = LoginCodePolicy.generate()
        let created = now()
        try await store.recordLoginCode(LoginCodeRecord(
            email: email, purpose: purpose, codeHash: hash(code, email: email, purpose: purpose), createdTS: created,
            expiresTS: created + LoginCodePolicy.lifetime))
        let mailer = self.mailer, logger = self.logger
        Task {
            do {
                try await mailer.send(to: email, subject: "Your Parley code: \(code)", body: Self.body(code: code, purpose: purpose))
            } catch {
                // The address is the user's own business: not in the log.
                logger.warning("a log-in code could not be mailed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The account the code signs in (or links the address to); nil for a
    /// wrong, used, expired or worn-out code. An account made by it takes
    /// `handle` if that is free, else a made-up one.
    func redeem(_ code: String, email: String, purpose: LoginCodeRecord.Purpose, handle: String? = nil) async throws -> (account: Account, created: Bool)? {
        guard let code = LoginCodePolicy.normalized(code) else { return nil }
        return try await store.redeemLoginCode(
            email: email, codeHash: hash(code, email: email, purpose: purpose), purpose: purpose, at: now(),
            maxTries: LoginCodePolicy.maxTries, handles: ExternalIdentity.handleCandidates(preferred: handle))
    }

    private func hash(_ code: String, email: String, purpose: LoginCodeRecord.Purpose) -> String {
        let scope: String
        switch purpose {
        case .signIn: scope = "sign-in"
        case .link(let user): scope = "link \(user.rawValue)"
        }
        return Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array("\(scope)\0\(email)\0\(code)".utf8), using: key)))
    }

    private static func admit(_ key: String, into windows: borrowing Mutex<[String: EventWindow]>, limit: Int, _ what: String) throws(ChatError) {
        let now = ContinuousClock.now
        let wait = windows.withLock { windows -> Duration in
            if windows.count > 10_000 { windows = windows.filter { var events = $0.value; return !events.isEmpty(now: now) } }
            var events = windows[key, default: EventWindow(limit: limit - 1, window: LoginCodePolicy.requestWindow)]
            defer { windows[key] = events }
            if events.isOver(now: now) { return events.retryAfter(now: now) }
            _ = events.record(now: now)
            return .zero
        }
        if wait > .zero { throw ChatError.rateLimited("too many \(what): wait before asking again", retryAfter: wait) }
    }

    static func body(code: String, purpose: LoginCodeRecord.Purpose) -> String {
        let use = purpose == .signIn ? "sign in to Parley" : "confirm this address for your Parley account"
        return """
            Your code to \(use):

            \(code)

            It works once, within 10 minutes. If you did not ask for it, ignore this mail: nothing happens without the code.
            """
    }
}
