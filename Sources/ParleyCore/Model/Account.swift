/// A user together with the row key the server uses internally.
public struct Account: Sendable, Hashable {
    public let key: UserKey
    public let user: User

    public init(key: UserKey, user: User) {
        self.key = key
        self.user = user
    }
}
