/// Something that happened which people's open sessions must hear of.
///
/// The store publishes what it commits (a message, a read mark, a
/// conversation and its members), once committed and, within one
/// conversation, in commit order; the chat service publishes the rest
/// (typing, presence, closing sessions). Each node's hub turns an event into
/// frames for its own sessions, so an event names people (`UserKey`) and
/// never sockets, except `origin`: the session that caused it, which is
/// answered directly instead.
public enum ChatEvent: Sendable, Hashable {
    /// A message was stored. `recipients` are the members who hear from the
    /// conversation when it committed; `blockedBy` those of them who blocked
    /// the sender, who get it marked `sender_blocked` (usually none).
    case messageStored(Message, sender: UserKey, recipients: [UserKey], blockedBy: [UserKey], origin: SessionID?)
    /// A reader's mark moved forward: a receipt for `receiptRecipients`, the
    /// new read state for the reader's other sessions.
    case readMarkMoved(ReadMark, reader: Account, receiptRecipients: [UserKey], origin: SessionID?)
    case conversationCreated(Conversation)
    /// A member was added or removed (never `.unchanged`).
    case membershipChanged(MembershipChange)
    case typing(conversationID: String, typer: User, recipients: [UserKey])
    /// The user came online (a first session on any node) or went offline
    /// (the last session on every node closed, or its node died): every
    /// node learns who is online anywhere from this, and `contacts` are told.
    case onlineChanged(Account, online: Bool, lastSeenTS: Millis?, contacts: [UserKey])
    /// What `viewers` are to see of `user`'s presence now (a block or an
    /// unblock changed what they may see).
    case presenceChanged(user: User, online: Bool, lastSeenTS: Millis?, viewers: [UserKey])
    /// The sessions signed in with this token end (4401).
    case tokenRevoked(user: UserKey, tokenID: String)
    /// Every session of the user ends (4403) until the ban does.
    case userBanned(UserKey, until: Millis)
    /// The user's ban ended early (the product lifted it).
    case banLifted(UserKey)
    /// Stored messages changed (deleted): `message_updated` to every
    /// session of `recipients`.
    case messagesUpdated([Message], recipients: [UserKey])
    /// The account is gone: every session of it ends (4401).
    case userErased(UserKey)
    /// The product changed the user's handle, display name or bot flag: the
    /// user's open sessions go on as the account is now (what they send
    /// carries the new name).
    case accountChanged(Account)
    /// This node may have missed other nodes' events (it could not read
    /// them for longer than they are kept): every session here ends (1012)
    /// and catches up when it reconnects. Never leaves the node.
    case eventsMissed
}

/// A session's id: random, unique across nodes.
public typealias SessionID = String
