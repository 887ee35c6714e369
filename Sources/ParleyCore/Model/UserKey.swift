/// The store's row key of a user. It never leaves the server; the wire
/// only ever sees `User.id`.
public struct UserKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public static func < (lhs: UserKey, rhs: UserKey) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "user#\(rawValue)" }
}
