import ParleyCore

/// A log-in code as kept: only its keyed hash, never the code.
public struct LoginCodeRecord: Sendable {
    public enum Purpose: Sendable, Equatable {
        /// Signing in (or up) by the address.
        case signIn
        /// Linking the address to this signed-in user.
        case link(UserKey)

        var userKey: Int64? {
            if case .link(let user) = self { user.rawValue } else { nil }
        }
    }

    public let email: String
    public let purpose: Purpose
    public let codeHash: String
    public let createdTS: Millis
    public let expiresTS: Millis

    public init(email: String, purpose: Purpose, codeHash: String, createdTS: Millis, expiresTS: Millis) {
        self.email = email
        self.purpose = purpose
        self.codeHash = codeHash
        self.createdTS = createdTS
        self.expiresTS = expiresTS
    }
}
