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
    /// Blocks between members: presence is hidden between those two, and a
    /// blocked sender's messages are folded for the blocker.
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

    public func member(_ key: UserKey) -> Member? { members.first { $0.account.key == key } }

    public func readSeq(of viewer: UserKey) -> Int64 {
        member(viewer)?.readSeq ?? lastSeq
    }

    /// Messages after the viewer's read mark sent by others, but for those
    /// from people the viewer blocked (see `ReadMark.unread`).
    public func unread(of viewer: UserKey) -> Int64 {
        guard let member = member(viewer) else { return 0 }
        return ReadMark.unread(lastSeq: lastSeq, readSeq: member.readSeq, fromBlocked: member.unreadFromBlocked)
    }

    public func standing(of viewer: UserKey) -> Standing {
        member(viewer)?.standing ?? .accepted
    }

    /// The people whose members would hear of what happens here: everyone
    /// but those who declined it.
    public var listeners: [Account] {
        members.filter { !$0.standing.isDeclined }.map(\.account)
    }
}
