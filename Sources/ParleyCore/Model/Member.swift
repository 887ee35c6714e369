public struct Member: Sendable, Hashable {
    public let account: Account
    public let readSeq: Int64
    public let standing: Standing
    /// Messages after `readSeq` from senders this member blocked: not unread
    /// for them.
    public let unreadFromBlocked: Int64
    /// While the conversation is a request for this member: the other
    /// members who see their presence anyway, through a conversation the
    /// member accepted.
    public let seenElsewhereBy: Set<UserKey>
    public let role: MemberRole

    public init(
        account: Account, readSeq: Int64, standing: Standing = .accepted, unreadFromBlocked: Int64 = 0,
        seenElsewhereBy: Set<UserKey> = [], role: MemberRole = .member
    ) {
        self.account = account
        self.readSeq = readSeq
        self.standing = standing
        self.unreadFromBlocked = unreadFromBlocked
        self.seenElsewhereBy = seenElsewhereBy
        self.role = role
    }
}
