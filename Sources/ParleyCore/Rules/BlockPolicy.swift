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
