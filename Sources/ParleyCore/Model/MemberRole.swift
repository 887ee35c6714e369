/// What a member may do in a group. A direct conversation's two people are
/// both `member`s: nobody manages it.
public enum MemberRole: String, Sendable, Hashable, CaseIterable {
    /// One per group (`conversation.owner_id`): everything an admin may, and
    /// changing roles.
    case owner
    /// Adds and removes members (not the owner or other admins), makes and
    /// revokes invites, deletes any message.
    case admin
    case member

    /// Adds members, removes plain members, makes and revokes invites.
    public var managesMembers: Bool { self != .member }
    public var deletesAnyMessage: Bool { self != .member }
}

extension MemberRole {
    /// A role as a request names it.
    public static func parse(_ name: String?) throws(ChatError) -> MemberRole {
        guard let name, let role = MemberRole(rawValue: name) else {
            throw .invalidRequest("role must be \"owner\", \"admin\" or \"member\"")
        }
        return role
    }
}
