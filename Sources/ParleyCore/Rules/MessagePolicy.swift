/// Who may send into a conversation, and where a new message goes in it.
public enum MessagePolicy {
    /// A member sends, unless the conversation is a direct one between two
    /// people a block separates. Outsiders are told the conversation does
    /// not exist.
    public static func checkSend(isMember: Bool, blockedDirect: Bool) throws(ChatError) {
        guard isMember else { throw .conversationNotFound }
        guard !blockedDirect else { throw .blocked }
    }

    /// A member deletes their own messages; a group's owner and admins any.
    public static func checkDelete(actor: UserKey, sender: UserKey, actorRole: MemberRole) throws(ChatError) {
        guard actor == sender || actorRole.deletesAnyMessage else {
            throw .forbidden("only the sender, the owner and admins delete a message")
        }
    }

    /// The seq and time of the next message: seqs run 1, 2, 3 … with no gap,
    /// and times never go backwards within a conversation, even if the clock does.
    public static func next(lastSeq: Int64, lastActivityTS: Millis, now: Millis) -> (seq: Int64, ts: Millis) {
        (lastSeq + 1, max(now, lastActivityTS))
    }
}
