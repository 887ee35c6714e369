/// Milliseconds since the Unix epoch: every time on the wire.
public typealias Millis = Int64

extension Duration {
    /// The duration in whole milliseconds, rounded down: for wire fields
    /// and times in `Millis`.
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

/// The store's row key of a user. It never leaves the server; the wire
/// only ever sees `User.id`.
public struct UserKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public static func < (lhs: UserKey, rhs: UserKey) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "user#\(rawValue)" }
}

/// A user as others may see them: opaque id, handle, display name. No e-mail,
/// no row key.
public struct User: Sendable, Hashable {
    public let id: String
    public let handle: String
    public let displayName: String

    public init(id: String, handle: String, displayName: String) {
        self.id = id
        self.handle = handle
        self.displayName = displayName
    }
}

/// A user together with the row key the server uses internally.
public struct Account: Sendable, Hashable {
    public let key: UserKey
    public let user: User

    public init(key: UserKey, user: User) {
        self.key = key
        self.user = user
    }
}

public enum ConversationKind: String, Sendable, Codable {
    case direct
    case group
}

/// A stored message, as every member may see it. `clientID` is shown only to
/// the sender's own sessions; encoders decide that, not this type.
public struct Message: Sendable, Hashable {
    public let id: String
    public let conversationID: String
    public let seq: Int64
    public let sender: User
    public let text: String
    public let ts: Millis
    public let clientID: String

    public init(id: String, conversationID: String, seq: Int64, sender: User, text: String, ts: Millis, clientID: String) {
        self.id = id
        self.conversationID = conversationID
        self.seq = seq
        self.sender = sender
        self.text = text
        self.ts = ts
        self.clientID = clientID
    }
}

public struct Member: Sendable, Hashable {
    public let account: Account
    public let readSeq: Int64

    public init(account: Account, readSeq: Int64) {
        self.account = account
        self.readSeq = readSeq
    }
}

/// A conversation with every member's read mark; what one member sees of
/// it (`read_seq`, `unread`) is derived with `readSeq(of:)` and `unread(of:)`.
public struct Conversation: Sendable, Hashable {
    public let id: String
    public let kind: ConversationKind
    public let title: String?
    public let owner: User?
    /// In the order they joined.
    public let members: [Member]
    public let lastSeq: Int64
    public let lastMessage: Message?
    public let createdTS: Millis
    public let lastActivityTS: Millis
    /// Blocks between members: presence is hidden between those two.
    public let blocks: BlockSet

    public init(
        id: String, kind: ConversationKind, title: String?, owner: User?, members: [Member],
        lastSeq: Int64, lastMessage: Message?, createdTS: Millis, lastActivityTS: Millis, blocks: BlockSet = .empty
    ) {
        self.id = id
        self.kind = kind
        self.title = title
        self.owner = owner
        self.members = members
        self.lastSeq = lastSeq
        self.lastMessage = lastMessage
        self.createdTS = createdTS
        self.lastActivityTS = lastActivityTS
        self.blocks = blocks
    }

    public func isMember(_ key: UserKey) -> Bool { members.contains { $0.account.key == key } }

    public func readSeq(of viewer: UserKey) -> Int64 {
        members.first { $0.account.key == viewer }?.readSeq ?? lastSeq
    }

    /// Messages after the viewer's read mark sent by others. Sending moves the
    /// sender's own mark to the message it sent, so every one of the viewer's
    /// own messages is at or below the mark and this is exact, with no scan.
    public func unread(of viewer: UserKey) -> Int64 {
        ReadMark.unread(lastSeq: lastSeq, readSeq: readSeq(of: viewer))
    }
}

/// Where one member has read up to in one conversation.
public struct ReadMark: Sendable, Hashable {
    public let conversationID: String
    public let lastSeq: Int64
    public let readSeq: Int64

    public init(conversationID: String, lastSeq: Int64, readSeq: Int64) {
        self.conversationID = conversationID
        self.lastSeq = lastSeq
        self.readSeq = readSeq
    }

    public var unread: Int64 { Self.unread(lastSeq: lastSeq, readSeq: readSeq) }

    public static func unread(lastSeq: Int64, readSeq: Int64) -> Int64 { max(0, lastSeq - readSeq) }
}

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

/// What one user may see of another's presence.
public struct PresenceView: Sendable, Hashable {
    public let account: Account
    /// False when the viewer may not see this user's presence: they share no
    /// conversation, or one blocked the other.
    public let visible: Bool
    /// When the user's last session closed; nil if never.
    public let lastSeenTS: Millis?

    public init(account: Account, visible: Bool, lastSeenTS: Millis?) {
        self.account = account
        self.visible = visible
        self.lastSeenTS = lastSeenTS
    }
}
