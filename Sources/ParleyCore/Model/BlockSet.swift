/// Who blocked whom among some set of users: both directions count, since a
/// block in either direction stops presence and typing between the two.
public struct BlockSet: Sendable, Hashable {
    private var pairs: Set<Pair>

    private struct Pair: Hashable {
        let low: UserKey
        let high: UserKey
        init(_ a: UserKey, _ b: UserKey) {
            (low, high) = a < b ? (a, b) : (b, a)
        }
    }

    public static let empty = BlockSet()

    public init() { pairs = [] }

    public mutating func insert(blocker: UserKey, blocked: UserKey) {
        pairs.insert(Pair(blocker, blocked))
    }

    /// True if either of the two blocked the other.
    public func separates(_ a: UserKey, _ b: UserKey) -> Bool {
        !pairs.isEmpty && pairs.contains(Pair(a, b))
    }

    public var isEmpty: Bool { pairs.isEmpty }
}
