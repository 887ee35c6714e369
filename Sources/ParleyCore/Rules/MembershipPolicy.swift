/// Who may change a conversation's membership.
public enum MembershipPolicy {
    public static func checkAdd(kind: ConversationKind, actor: UserKey, owner: UserKey?) throws(ChatError) {
        guard kind == .group else { throw .forbidden("a direct conversation always has exactly its two people") }
        guard actor == owner else { throw .forbidden("only the owner can add members") }
    }

    /// The owner removes anyone; anyone removes themself.
    public static func checkRemove(kind: ConversationKind, actor: UserKey, target: UserKey, owner: UserKey?) throws(ChatError) {
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
