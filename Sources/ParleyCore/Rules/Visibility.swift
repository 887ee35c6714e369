/// Who sees whom: presence, receipts and typing reach only people who share
/// a conversation, never across a block (either way), and nothing of a
/// member leaves a conversation that is still a request for them.
public enum Visibility {
    /// Whether `viewer` may see `subject`'s presence (one always sees one's
    /// own). `shareConversation`: they share one that `subject` accepted
    /// and `viewer` did not decline.
    public static func seesPresence(of subject: UserKey, viewer: UserKey, shareConversation: Bool, blocks: BlockSet) -> Bool {
        subject == viewer || (shareConversation && !blocks.separates(subject, viewer))
    }

    /// Whether a conversation's member list shows `member` online to
    /// `viewer`: not across a block, and not because of a conversation that
    /// is still a request for the member (but the viewer may see them
    /// through another one).
    public static func showsPresence(of member: Member, to viewer: UserKey, blocks: BlockSet) -> Bool {
        let subject = member.account.key
        guard subject != viewer else { return true }
        return !blocks.separates(subject, viewer) && (member.standing == .accepted || member.seenElsewhereBy.contains(viewer))
    }

    /// Whether `viewer` sees `member`'s read mark in a member list: not
    /// while the conversation is a request for the member.
    public static func showsReadMark(of member: Member, to viewer: UserKey) -> Bool {
        member.account.key == viewer || member.standing == .accepted
    }

    /// Who sees `user`'s presence: each person sharing a conversation with
    /// them (`coMembers`, in any order, repeats allowed) once, but for those
    /// a block separates from them.
    public static func contacts(of user: UserKey, coMembers: some Sequence<UserKey>, blocks: BlockSet) -> [UserKey] {
        var seen: Set<UserKey> = [user]
        return coMembers.filter { !blocks.separates(user, $0) && seen.insert($0).inserted }
    }

    /// Who hears `typer` type: the other `listeners` (members who did not
    /// decline), but for those a block separates from the typer; nobody
    /// while the conversation is a request for the typer.
    public static func typingRecipients(typer: UserKey, standing: Standing, listeners: [UserKey], blocks: BlockSet) -> [UserKey] {
        guard standing == .accepted else { return [] }
        return listeners.filter { $0 != typer && !blocks.separates(typer, $0) }
    }

    /// Who gets a receipt when `reader`'s mark moves: the other listeners;
    /// nobody while the conversation is a request for the reader.
    public static func receiptRecipients(reader: UserKey, standing: Standing, listeners: [UserKey]) -> [UserKey] {
        guard standing == .accepted else { return [] }
        return listeners.filter { $0 != reader }
    }
}
