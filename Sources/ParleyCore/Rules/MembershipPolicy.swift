/// Who may change a conversation's membership, and how large a group grows.
public enum MembershipPolicy {
    /// What adding a member comes to.
    public enum Addition: Sendable, Equatable {
        case add
        /// A member already: nothing changes.
        case alreadyMember
    }

    /// Only a group's owner adds members.
    public static func checkAdd(kind: ConversationKind, actor: UserKey, owner: UserKey?) throws(ChatError) {
        guard kind == .group else { throw .forbidden("a direct conversation always has exactly its two people") }
        guard actor == owner else { throw .forbidden("only the owner can add members") }
    }

    /// Adding `subject` to a group of `members`, once `checkAdd` passed: a
    /// member already changes nothing; otherwise the group needs room.
    public static func addition(of subject: UserKey, to members: [UserKey], limits: ChatLimits) throws(ChatError) -> Addition {
        guard !members.contains(subject) else { return .alreadyMember }
        try checkRoom(members: members.count, adding: 1, limits: limits)
        return .add
    }

    /// A group holds at most `limits.maxGroupMembers` people, its owner included.
    public static func checkRoom(members: Int, adding: Int, limits: ChatLimits) throws(ChatError) {
        guard members + adding <= limits.maxGroupMembers else {
            throw .forbidden("a group has at most \(limits.maxGroupMembers) members")
        }
    }

    /// Only members are removed, from groups: the owner removes anyone;
    /// anyone removes themself.
    public static func checkRemove(
        kind: ConversationKind, actor: UserKey, target: UserKey?, members: [UserKey], owner: UserKey?
    ) throws(ChatError) {
        guard let target, members.contains(target) else {
            throw .notFound("that user is not a member of this conversation")
        }
        guard kind == .group else { throw .forbidden("a direct conversation always has exactly its two people") }
        guard actor == target || actor == owner else {
            throw .forbidden("only the owner can remove other members")
        }
    }

    /// When the owner leaves, the longest-standing remaining member inherits the
    /// group, so it is never left without someone who can manage it.
    public static func nextOwner(remainingByJoinOrder: [UserKey]) -> UserKey? {
        remainingByJoinOrder.first
    }
}
