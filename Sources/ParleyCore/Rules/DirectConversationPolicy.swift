/// Who may have a direct conversation: two different people, neither of
/// whom blocked the other.
public enum DirectConversationPolicy {
    /// `blocks` holds the blocks between the two (either way).
    public static func checkOpen(between owner: UserKey, and other: UserKey, blocks: BlockSet) throws(ChatError) {
        guard owner != other else { throw .invalidRequest("a direct conversation needs two different people") }
        guard !blocks.separates(owner, other) else { throw .blocked }
    }
}
