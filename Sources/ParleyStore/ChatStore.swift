import ParleyCore

/// Everything Parley keeps. Implementations: `SQLiteChatStore` (embedded,
/// the default) and, later, PostgreSQL. The same test suite runs against each.
///
/// Conversations and users are named by their opaque public ids; the store
/// resolves them. Every conversation operation takes the acting user and
/// answers `ChatError.conversationNotFound` alike for a conversation that does
/// not exist and one the actor is not a member of.
///
/// What a write changes that sessions must hear of is published to
/// `broker` as a `ChatEvent` once committed: messages stored, read marks
/// moved, conversations created, members added, removed, accepting or
/// declining. Every chat rule is decided by ParleyCore's policies; the store
/// reads the facts they need (blocks, standings) in the same transaction. The events of
/// one conversation are published in commit order (messages in seq order),
/// each after its caller heard the outcome (an append's completion runs
/// first, an awaiting call resumes first). Nothing is promised across
/// conversations.
public protocol ChatStore: Sendable {
    /// Where this store publishes what it commits. The application
    /// subscribes its hub here and publishes its own events here too.
    var broker: any EventBroker { get }

    // MARK: Accounts and tokens

    /// Throws `conflict` if the handle is taken, whatever its case.
    func createAccount(_ request: NewAccount) async throws -> Account
    func credentials(handleKey: String) async throws -> StoredCredentials?
    func account(id: String) async throws -> Account?
    func account(handleKey: String) async throws -> Account?
    /// The user the product knows as `externalID`, if there is one yet.
    func account(externalID: String) async throws -> Account?
    /// The user the product knows as `externalID`, made on first use with
    /// the first free handle of `request.handles` (and no password: they
    /// sign in through the product). Atomic across nodes: two first uses at
    /// once make one user. Throws `conflict` if every handle is taken.
    func provisionAccount(_ request: ExternalAccount) async throws -> (account: Account, created: Bool)
    /// Changes what is given of a user's handle, display name and bot flag
    /// (nil: unchanged). Throws `conflict` if the handle is someone else's,
    /// `userNotFound` if there is no such user.
    func updateAccount(_ user: UserKey, handle: (handle: String, key: String)?, displayName: String?, bot: Bool?) async throws -> Account

    /// Nothing happens if a token with that id is recorded already.
    func recordToken(_ token: TokenRecord) async throws

    /// Keeps a log-in code sent by e-mail; the unused ones sent before for
    /// the same address and purpose stop working.
    func recordLoginCode(_ code: LoginCodeRecord) async throws
    /// Tries the newest live code for the address and purpose: each try is
    /// counted (committed even when wrong), a code takes at most `maxTries`
    /// and works once. The right one signs in the user with that address
    /// (made on first use with the first free of `handles`), or links the
    /// address to the user (`conflict` if it is someone else's). nil for a
    /// wrong, used, expired or worn-out code.
    func redeemLoginCode(
        email: String, codeHash: String, purpose: LoginCodeRecord.Purpose, at now: Millis, maxTries: Int,
        handles: [(handle: String, key: String)]
    ) async throws -> (account: Account, created: Bool)?
    /// The user's own e-mail address, if one is linked: shown to them only.
    func email(of user: UserKey) async throws -> String?
    /// The address the user last asked to link, while its code is live.
    func pendingLinkEmail(of user: UserKey, at now: Millis) async throws -> String?
    /// Durable before it returns, and published (`tokenRevoked`, to every
    /// node). Answers false if no such token exists.
    func revokeToken(id: String) async throws -> Bool
    /// Revoked tokens that have not expired yet: the only ones worth refusing,
    /// since expired ones fail on their own.
    func revokedTokenIDs() async throws -> [String]

    /// Bans a user until `until` (durable before it returns, and published
    /// as `userBanned`, to every node); a longer ban already in force stays.
    func recordBan(_ user: UserKey, until: Millis) async throws
    /// Users banned at `now`, with when each ban ends.
    func activeBans(at now: Millis) async throws -> [UserKey: Millis]
    /// Ends the user's ban now (durable before it returns, and published as
    /// `banLifted`, to every node). False if none was in force.
    func liftBan(_ user: UserKey, at now: Millis) async throws -> Bool

    // MARK: Users, presence and blocks

    /// Users whose handle or display name starts with `prefix` (already
    /// folded with `SearchKey.fold`): handle matches first, then display-name
    /// matches, each user once.
    func searchUsers(prefix: String, limit: Int) async throws -> [User]
    /// What `viewer` may see of each user's presence, in the order asked;
    /// unknown ids are left out.
    func presence(of userIDs: [String], viewer: UserKey) async throws -> [PresenceView]
    func presence(ofHandleKey handleKey: String, viewer: UserKey) async throws -> PresenceView?
    /// Who sees `user`'s presence: everyone sharing a conversation with them,
    /// but for users blocked either way.
    func contacts(of user: UserKey) async throws -> [UserKey]
    func recordLastSeen(_ user: UserKey, at ts: Millis) async throws

    // MARK: Presence across nodes

    /// Whether the limit of sessions per user counts every node's
    /// (PostgreSQL): each session then waits to be let in by a
    /// `recordSessions` that counts it. A store only one node can open
    /// leaves the limit to that node's hub, and is told only of a user's
    /// first session and their last.
    var countsSessionsAcrossNodes: Bool { get }
    /// Records that this node has `count` sessions of `account` (0: none
    /// left), and returns how many it may keep: fewer if they do not fit
    /// beside the other nodes' within `limit`, never fewer than the
    /// `admitted` ones (`SessionAllowance`). If that makes the user online
    /// anywhere or offline everywhere (`PresenceRule.isNews`), records
    /// when they were last seen (going offline) and publishes
    /// `onlineChanged` to their contacts, in the order such changes are
    /// recorded across every node.
    func recordSessions(_ account: Account, count: Int, admitted: Int, limit: Int, at ts: Millis) async throws -> Int
    /// Tells the other nodes this one is alive. False if they had given it
    /// up (and announced its users offline): the caller then records its
    /// users' presence again.
    func heartbeat() async throws -> Bool
    /// Gives up the nodes silent for longer than `PresenceRule.silenceLimit`
    /// (a kill -9, a power cut): their users with no session elsewhere are
    /// announced offline. Returns how many nodes were given up.
    func expireSilentNodes() async throws -> Int
    func block(_ blocker: Account, userID: String) async throws -> BlockChange
    func unblock(_ blocker: Account, userID: String) async throws -> BlockChange
    /// The users `user` blocked, most recent first.
    func blockedUsers(of user: UserKey) async throws -> [User]

    // MARK: Conversations

    /// The one direct conversation of the pair, created on first use. The
    /// other is asked to accept it if chat requests apply to `introducer`
    /// (`ChatRequestPolicy`).
    func openDirect(
        between owner: Account, andUserID otherID: String, introducedBy introducer: Introducer
    ) async throws -> (conversation: Conversation, created: Bool)
    func createGroup(owner: Account, title: String, memberIDs: [String], introducedBy introducer: Introducer) async throws -> Conversation
    func conversation(id: String, viewer: UserKey) async throws -> Conversation
    /// Any conversation, as the product's backend sees it (it is no
    /// member); nil if no conversation has that id.
    func conversation(id: String) async throws -> Conversation?
    func conversations(of viewer: UserKey, limit: Int, after cursor: ConversationCursor?) async throws -> ConversationPage
    /// Every conversation of the user with its last seq and the user's read
    /// mark: the snapshot a WebSocket session starts from.
    func readMarks(of user: UserKey) async throws -> [ReadMark]
    /// Adds a member with `role` (`member` or `admin`), if `actor` may
    /// (`MembershipPolicy.checkAdd`).
    func addMember(
        conversationID: String, actor: UserKey, userID: String, role: MemberRole, introducedBy introducer: Introducer
    ) async throws -> MembershipChange
    /// Gives a member another role (`MembershipPolicy.roleChange`):
    /// `.roleChanged`, or `.unchanged` if it is theirs already.
    func setRole(conversationID: String, actor: UserKey, userID: String, role: MemberRole) async throws -> MembershipChange
    /// An invite to a group, made by its owner or an admin.
    func createInvite(conversationID: String, actor: UserKey, expiresTS: Millis?, maxUses: Int?) async throws -> Invite
    /// False if the group has no such invite not revoked yet.
    func revokeInvite(conversationID: String, actor: UserKey, code: String) async throws -> Bool
    /// The group's invites that still let people in (not revoked, expired
    /// or used up), newest first; for its owner and admins.
    func invites(conversationID: String, actor: UserKey) async throws -> [Invite]
    /// Joins the invite's group: one use spent in the same transaction, so
    /// that two people cannot both take its last use. `.unchanged` for a
    /// member already (no use spent); `InvitePolicy.notFound` for a code
    /// unknown, expired, used up or revoked.
    func acceptInvite(code: String, member: Account) async throws -> MembershipChange
    func removeMember(conversationID: String, actor: UserKey, userID: String) async throws -> MembershipChange
    /// The member accepts a conversation that is a request for them
    /// (`.unchanged` if they had accepted it already).
    func accept(conversationID: String, member: Account) async throws -> MembershipChange
    /// The member declines a conversation: leaving a group (`.removed`);
    /// a direct conversation leaves their sight (`.declined`) until they
    /// open it again or are written to after `ChatRequestPolicy.quietPeriod`.
    func decline(conversationID: String, member: Account) async throws -> MembershipChange

    // MARK: Messages

    /// Deletes a stored message: its text is removed, its seq stays, and
    /// the members hear of it (`messagesUpdated`). Deleting it again
    /// changes nothing and publishes nothing. Throws `notFound` for an
    /// unknown conversation or seq. `actor` nil: the product's backend;
    /// otherwise a member (`MessagePolicy.checkDelete`).
    func deleteMessage(conversationID: String, seq: Int64, by actor: UserKey?) async throws -> Message
    /// Erases an account: its sign-in (handle, password, external id),
    /// tokens and sockets end (`userErased`, to every node), and the text of
    /// every message it sent is removed (the newest `ChatLimits.erasedShownLive`
    /// are published as `messagesUpdated`; the rest show on reading). The
    /// user stays as "Deleted user" beside its messages. False if there was
    /// no such account (or it was erased already).
    func eraseAccount(_ user: UserKey) async throws -> Bool

    /// Stores a message and calls `completion` once it is durable (or
    /// refused), then publishes `messageStored`. Completions of one
    /// conversation run in seq order. They must be quick and must not block.
    func append(_ request: AppendRequest, completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void)
    func history(conversationID: String, viewer: UserKey, window: HistoryWindow, limit: Int) async throws -> HistoryPage
    /// The members a `typing` from `typer` reaches: everyone else, but for
    /// users blocked either way. Throws `conversationNotFound` for a non-member.
    func typingRecipients(conversationID: String, typer: UserKey) async throws -> [UserKey]
    /// Moves the reader's mark forward, never back and never past the last
    /// seq, and publishes `readMarkMoved` if it moved. `origin` is the
    /// session that asked, if any: its own read state needs no event.
    func markRead(conversationID: String, reader: Account, seq: Int64, origin: SessionID?) async throws -> ReadMarkChange

    /// Whether the database answers a trivial query now: what `/readyz`
    /// asks before it tells a load balancer to send traffic here.
    func isReachable() async -> Bool

    /// Waits for queued writes to finish, then closes the database.
    func close() async throws
}

/// What members do themselves.
extension ChatStore {
    public func openDirect(between owner: Account, andUserID otherID: String) async throws -> (conversation: Conversation, created: Bool) {
        try await openDirect(between: owner, andUserID: otherID, introducedBy: .member)
    }

    public func createGroup(owner: Account, title: String, memberIDs: [String]) async throws -> Conversation {
        try await createGroup(owner: owner, title: title, memberIDs: memberIDs, introducedBy: .member)
    }

    public func addMember(conversationID: String, actor: UserKey, userID: String, role: MemberRole = .member) async throws -> MembershipChange {
        try await addMember(conversationID: conversationID, actor: actor, userID: userID, role: role, introducedBy: .member)
    }

    public func markRead(conversationID: String, reader: Account, seq: Int64) async throws -> ReadMarkChange {
        try await markRead(conversationID: conversationID, reader: reader, seq: seq, origin: nil)
    }

    /// `append` for callers that can wait: HTTP handlers and tests.
    public func append(_ request: AppendRequest) async throws -> AppendOutcome {
        try await withCheckedThrowingContinuation { continuation in
            append(request) { continuation.resume(with: $0) }
        }
    }
}
