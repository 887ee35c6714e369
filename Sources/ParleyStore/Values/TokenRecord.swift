import ParleyCore

public struct TokenRecord: Sendable {
    public let id: String
    public let user: UserKey
    public let issuedTS: Millis
    public let expiresTS: Millis

    public init(id: String, user: UserKey, issuedTS: Millis, expiresTS: Millis) {
        self.id = id
        self.user = user
        self.issuedTS = issuedTS
        self.expiresTS = expiresTS
    }
}
