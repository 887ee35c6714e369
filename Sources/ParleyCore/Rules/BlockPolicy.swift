/// What blocking allows, and what a block keeps apart.
public enum BlockPolicy {
    public static func checkBlock(by blocker: UserKey, of subject: UserKey) throws(ChatError) {
        guard subject != blocker else { throw .invalidRequest("you cannot block yourself") }
    }

    /// `count`: the users the blocker blocks, the new one included.
    public static func checkCount(_ count: Int, limits: ChatLimits) throws(ChatError) {
        guard count <= limits.maxBlocks else { throw .forbidden("you can block at most \(limits.maxBlocks) users") }
    }
}

extension BlockPolicy {
    /// Nobody brings into a group (creating it or adding) someone a block
    /// separates them from, whichever of the two blocked.
    public static func checkBringIn(_ subject: UserKey, by actor: UserKey, blocks: BlockSet) throws(ChatError) {
        guard !blocks.separates(actor, subject) else { throw .blocked }
    }
}
