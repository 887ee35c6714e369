import ParleyCore

/// One request a client sent over its socket, read and checked once: the
/// `id` its answer carries, and what it asks for, with every field its
/// frame type requires present. What the values may be (lengths, limits,
/// membership) is the chat service's to decide.
struct ClientRequest: Equatable, Sendable {
    enum Kind: String, Sendable {
        case auth, send, history, read, typing, presence, ping
    }

    enum Action: Equatable, Sendable {
        case auth(token: String)
        case send(SendRequest)
        case history(HistoryRequest)
        case read(conversationID: String, seq: Int64)
        case typing(conversationID: String)
        case presence(userIDs: [String])
        case ping
        /// A known frame type whose fields are wrong: answered with `error`
        /// where the request would have been handled.
        case malformed(Kind, ChatError)
        case unknown(type: String)
    }

    let id: String?
    let action: Action

    init(id: String?, action: Action) {
        self.id = id
        self.action = action
    }

    /// The request a frame makes. Fields are checked in the order the
    /// contract lists them, and the first one missing is named.
    init(_ frame: ClientFrame) {
        id = frame.id
        guard let kind = Kind(rawValue: frame.type) else {
            action = .unknown(type: frame.type)
            return
        }
        do throws(ChatError) {
            switch kind {
            case .auth: action = .auth(token: try requiredField(frame.token, "token"))
            case .send:
                action = .send(try SendRequest(conversationID: frame.conversationID, text: frame.text, clientID: frame.clientID))
            case .history:
                action = .history(
                    try HistoryRequest(
                        conversationID: frame.conversationID, after: frame.after, before: frame.before, sinceTS: frame.sinceTS,
                        limit: frame.limit))
            case .read:
                action = .read(conversationID: try requiredField(frame.conversationID, "conversation_id"), seq: try requiredField(frame.seq, "seq"))
            case .typing: action = .typing(conversationID: try requiredField(frame.conversationID, "conversation_id"))
            case .presence: action = .presence(userIDs: try requiredField(frame.userIDs, "user_ids"))
            case .ping: action = .ping
            }
        } catch {
            action = .malformed(kind, error)
        }
    }

    /// The kind of request, unknown types aside: what the gateway's limits
    /// and its order of checks go by.
    var kind: Kind? {
        switch action {
        case .auth: .auth
        case .send: .send
        case .history: .history
        case .read: .read
        case .typing: .typing
        case .presence: .presence
        case .ping: .ping
        case .malformed(let kind, _): kind
        case .unknown: nil
        }
    }
}

/// The value of a field its frame type requires; absent or null, it is named.
func requiredField<T>(_ value: T?, _ field: StaticString) throws(ChatError) -> T {
    guard let value else { throw .invalidRequest("\(field) is required") }
    return value
}
