import ParleyCore

/// Everything Parley keeps. Implementations: `SQLiteChatStore` (embedded,
/// the default) and, later, PostgreSQL. The same test suite runs against each.
///
/// Conversations and users are named by their opaque public ids; the store
/// resolves them. Every conversation operation takes the acting user and
/// answers `ChatError.conversationNotFound` alike for a conversation that does
/// not exist and one the actor is not a member of.
public protocol ChatStore: Sendable {
    // MARK: Accounts and tokens

    /// Throws `conflict` if the handle is taken, whatever its case.
    func createAccount(_ request: NewAccount) async throws -> Account
    func credentials(handleKey: String) async throws -> StoredCredentials?
    func account(id: String) async throws -> Account?
    func account(handleKey: String) async throws -> Account?

    func recordToken(_ token: TokenRecord) async throws
    /// Durable before it returns. Answers false if no such token exists.
    func revokeToken(id: String) async throws -> Bool
    /// Revoked tokens that have not expired yet: the only ones worth refusing,
    /// since expired ones fail on their own.
    func revokedTokenIDs() async throws -> [String]

    // MARK: Conversations

    /// The one direct conversation of the pair, created on first use.
    func openDirect(between owner: Account, andUserID otherID: String) async throws -> (conversation: Conversation, created: Bool)
    func createGroup(owner: Account, title: String, memberIDs: [String]) async throws -> Conversation
    func conversation(id: String, viewer: UserKey) async throws -> Conversation
    func conversations(of viewer: UserKey, limit: Int, after cursor: ConversationCursor?) async throws -> ConversationPage
    /// Every conversation of the user with its last seq and the user's read
    /// mark: the snapshot a WebSocket session starts from.
    func readMarks(of user: UserKey) async throws -> [ReadMark]
    func addMember(conversationID: String, actor: UserKey, userID: String) async throws -> MembershipChange
    func removeMember(conversationID: String, actor: UserKey, userID: String) async throws -> MembershipChange

    // MARK: Messages

    /// Stores a message and calls `completion` once it is durable (or refused).
    ///
    /// Completions run one at a time in commit order, so messages of one
    /// conversation complete in seq order. They must be quick and must not
    /// block: they run on the store's writer.
    func append(_ request: AppendRequest, completion: @escaping @Sendable (Result<AppendOutcome, any Error>) -> Void)
    func history(conversationID: String, viewer: UserKey, window: HistoryWindow, limit: Int) async throws -> HistoryPage
    /// Moves the reader's mark forward, never back and never past the last seq.
    func markRead(conversationID: String, reader: UserKey, seq: Int64) async throws -> ReadMarkChange

    /// Waits for queued writes to finish, then closes the database.
    func close() async throws
}

extension ChatStore {
    /// `append` for callers that can wait: HTTP handlers and tests.
    public func append(_ request: AppendRequest) async throws -> AppendOutcome {
        try await withCheckedThrowingContinuation { continuation in
            append(request) { continuation.resume(with: $0) }
        }
    }
}

public struct NewAccount: Sendable {
    public let handle: String
    public let handleKey: String
    public let displayName: String
    public let passwordHash: String

    public init(handle: String, handleKey: String, displayName: String, passwordHash: String) {
        self.handle = handle
        self.handleKey = handleKey
        self.displayName = displayName
        self.passwordHash = passwordHash
    }
}

public struct StoredCredentials: Sendable {
    public let account: Account
    public let passwordHash: String
}

public struct TokenRecord: Sendable {
    public let id: String
    public let user: UserKey
    public let issuedTS: Millis
    public let expiresTS: Millis

    public init(id: String, user: UserKey, issuedTS: Millis, expiresTS: Millis) {
        self.id = id
        self.user = user
        self.issuedTS = issuedTS
        self.expiresTS = expiresTS
    }
}

public struct AppendRequest: Sendable {
    public let conversationID: String
    public let sender: Account
    public let text: String
    public let clientID: String

    public init(conversationID: String, sender: Account, text: String, clientID: String) {
        self.conversationID = conversationID
        self.sender = sender
        self.text = text
        self.clientID = clientID
    }
}

public struct AppendOutcome: Sendable {
    public let message: Message
    /// True when this client_id was already stored: `message` is the original.
    public let duplicate: Bool
    /// Who the message goes to: the members at the moment it was committed.
    public let recipients: [UserKey]
}

public struct HistoryPage: Sendable, Equatable {
    public let messages: [Message]
    /// More messages exist beyond this page in the direction of the request
    /// (newer for `after`/`since`, older for `before`/`latest`).
    public let hasMore: Bool
}

/// Position in a conversation list: the last conversation of the previous page.
public struct ConversationCursor: Sendable, Hashable {
    public let lastActivityTS: Millis
    public let conversationID: String

    public init(lastActivityTS: Millis, conversationID: String) {
        self.lastActivityTS = lastActivityTS
        self.conversationID = conversationID
    }

    /// The wire form: opaque to clients, and carries no row id.
    public var token: String { Base64URL.encode(Array("\(lastActivityTS):\(conversationID)".utf8)) }

    public init?(token: String) {
        guard let bytes = Base64URL.decode(token) else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let ts = Millis(parts[0]), OpaqueID.isWellFormed(parts[1]) else { return nil }
        self.init(lastActivityTS: ts, conversationID: String(parts[1]))
    }
}

public struct ConversationPage: Sendable {
    public let conversations: [Conversation]
    public let nextCursor: ConversationCursor?
}

public struct MembershipChange: Sendable {
    public enum Kind: Sendable { case added, removed, unchanged }
    public let kind: Kind
    /// The conversation after the change.
    public let conversation: Conversation
    public let subject: Account
}

public struct ReadMarkChange: Sendable {
    public let mark: ReadMark
    /// False when the requested seq was at or behind the current mark.
    public let moved: Bool
}
