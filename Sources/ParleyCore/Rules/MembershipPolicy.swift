/// Who may change a conversation's membership, and how large a group grows.
public enum MembershipPolicy {
    /// What adding a member comes to.
    public enum Addition: Sendable, Equatable {
        case add
        /// A member already: nothing changes.
        case alreadyMember
    }

    /// A group's owner and admins add members (and make invites).
    public static func checkAdd(kind: ConversationKind, actorRole: MemberRole) throws(ChatError) {
        guard kind == .group else { throw .forbidden("a direct conversation always has exactly its two people") }
        guard actorRole.managesMembers else { throw .forbidden("only the owner and admins can add members") }
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

    /// Only members are removed, from groups: the owner removes anyone,
    /// an admin removes plain members, anyone removes themself.
    public static func checkRemove(
        kind: ConversationKind, actor: UserKey, actorRole: MemberRole, target: UserKey?, targetRole: MemberRole?, members: [UserKey]
    ) throws(ChatError) {
        guard let target, members.contains(target) else {
            throw .notFound("that user is not a member of this conversation")
        }
        guard kind == .group else { throw .forbidden("a direct conversation always has exactly its two people") }
        guard actor == target || actorRole == .owner || (actorRole == .admin && targetRole == .member) else {
            throw .forbidden("only the owner removes admins, and only the owner and admins remove members")
        }
    }

    /// What giving `target` the role `role` comes to, by `actor`: only the
    /// owner changes roles; making someone the owner hands the group over
    /// (the old owner becomes an admin).
    public enum RoleChange: Sendable, Equatable {
        case set(MemberRole)
        case handOver
        case unchanged
    }

    public static func roleChange(
        kind: ConversationKind, actorRole: MemberRole, target: UserKey, targetRole: MemberRole?, to role: MemberRole
    ) throws(ChatError) -> RoleChange {
        guard kind == .group else { throw .forbidden("a direct conversation has no roles") }
        guard actorRole == .owner else { throw .forbidden("only the owner changes roles") }
        guard let targetRole else { throw .notFound("that user is not a member of this conversation") }
        if targetRole == role { return .unchanged }
        if targetRole == .owner { throw .forbidden("the owner stays owner until they make someone else owner") }
        return role == .owner ? .handOver : .set(role)
    }

    /// A member's role from the facts a store reads.
    public static func role(of user: UserKey, owner: UserKey?, isAdmin: Bool, kind: ConversationKind) -> MemberRole {
        guard kind == .group else { return .member }
        if user == owner { return .owner }
        return isAdmin ? .admin : .member
    }

    /// When the owner leaves, the longest-standing remaining member inherits the
    /// group, so it is never left without someone who can manage it.
    public static func nextOwner(remainingByJoinOrder: [UserKey]) -> UserKey? {
        remainingByJoinOrder.first
    }
}
