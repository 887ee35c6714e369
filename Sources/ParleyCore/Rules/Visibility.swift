/// Who sees whom: presence and typing reach only people who share a
/// conversation, and never across a block, in either direction.
public enum Visibility {
    /// Whether `viewer` may see `subject`'s presence (one always sees one's own).
    public static func seesPresence(of subject: UserKey, viewer: UserKey, shareConversation: Bool, blocks: BlockSet) -> Bool {
        subject == viewer || (shareConversation && !blocks.separates(subject, viewer))
    }

    /// Who sees `user`'s presence: each person sharing a conversation with
    /// them (`coMembers`, in any order, repeats allowed) once, but for those
    /// a block separates from them.
    public static func contacts(of user: UserKey, coMembers: some Sequence<UserKey>, blocks: BlockSet) -> [UserKey] {
        var seen: Set<UserKey> = [user]
        return coMembers.filter { !blocks.separates(user, $0) && seen.insert($0).inserted }
    }

    /// Who hears `typer` type in a conversation of `members`.
    public static func typingRecipients(typer: UserKey, members: [UserKey], blocks: BlockSet) -> [UserKey] {
        members.filter { $0 != typer && !blocks.separates(typer, $0) }
    }
}
