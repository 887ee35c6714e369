/// A failure a client can be told about. The code is part of the wire
/// contract (HTTP error bodies and WebSocket `error` frames); the message is
/// for humans.
public struct ChatError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidRequest = "invalid_request"
        case unauthorized
        case forbidden
        case notFound = "not_found"
        case conflict
        case rateLimited = "rate_limited"
        case tooLarge = "too_large"
        case blocked
        case contentRejected = "content_rejected"
        case unavailable
        /// The request's body did not arrive in time (HTTP 408).
        case requestTimeout = "request_timeout"
        case internalError = "internal_error"
    }

    public let code: Code
    public let message: String
    public let retryAfterMs: Int64?

    public init(_ code: Code, _ message: String, retryAfterMs: Int64? = nil) {
        self.code = code
        self.message = message
        self.retryAfterMs = retryAfterMs
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func invalidRequest(_ message: String) -> ChatError { .init(.invalidRequest, message) }
    public static func forbidden(_ message: String) -> ChatError { .init(.forbidden, message) }
    public static func notFound(_ message: String) -> ChatError { .init(.notFound, message) }
    public static func conflict(_ message: String) -> ChatError { .init(.conflict, message) }
    public static func tooLarge(_ message: String) -> ChatError { .init(.tooLarge, message) }
    public static func rateLimited(_ message: String, retryAfter: Duration) -> ChatError {
        .init(.rateLimited, message, retryAfterMs: max(1, retryAfter.wholeMilliseconds))
    }
    public static let unauthorized = ChatError(.unauthorized, "missing, invalid, expired or revoked token")
    /// The one answer for "no such conversation" and "not a member of it", so
    /// that outsiders cannot probe which conversations exist.
    public static let conversationNotFound = ChatError(.notFound, "conversation not found")
    public static let userNotFound = ChatError(.notFound, "user not found")
    /// One of the two blocked the other: no direct messages between them.
    public static let blocked = ChatError(.blocked, "one of you has blocked the other")
}
