/// Who blocked whom among some set of users. Most rules care only that a
/// block separates two people, in either direction (presence, typing, direct
/// messages); a few care who blocked whom (a blocked sender's messages are
/// folded for the blocker alone).
public struct BlockSet: Sendable, Hashable {
    private var pairs: Set<Pair>

    private struct Pair: Hashable {
        let blocker: UserKey
        let blocked: UserKey
    }

    public static let empty = BlockSet()

    public init() { pairs = [] }

    public mutating func insert(blocker: UserKey, blocked: UserKey) {
        pairs.insert(Pair(blocker: blocker, blocked: blocked))
    }

    /// True if either of the two blocked the other.
    public func separates(_ a: UserKey, _ b: UserKey) -> Bool {
        !pairs.isEmpty && (pairs.contains(Pair(blocker: a, blocked: b)) || pairs.contains(Pair(blocker: b, blocked: a)))
    }

    /// True if `blocker` blocked `blocked` (not the other way round).
    public func contains(blocker: UserKey, blocked: UserKey) -> Bool {
        !pairs.isEmpty && pairs.contains(Pair(blocker: blocker, blocked: blocked))
    }

    /// Of `users`, those who blocked `subject`.
    public func blockers(of subject: UserKey, among users: [UserKey]) -> [UserKey] {
        pairs.isEmpty ? [] : users.filter { contains(blocker: $0, blocked: subject) }
    }

    /// Whether `blocker` blocked anyone here.
    public func hasBlocks(by blocker: UserKey) -> Bool {
        !pairs.isEmpty && pairs.contains { $0.blocker == blocker }
    }

    public var isEmpty: Bool { pairs.isEmpty }

    /// Every (blocker, blocked) pair, in no particular order: for carrying
    /// the set to another node.
    public var allPairs: [(blocker: UserKey, blocked: UserKey)] { pairs.map { ($0.blocker, $0.blocked) } }
}
