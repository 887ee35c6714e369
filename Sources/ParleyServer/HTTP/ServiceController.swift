import Foundation
import Hummingbird
import Logging
import ParleyCore
import ParleyStore

/// `/v1/service/…`: the product's backend, with the service key
/// (`ServiceKeyMiddleware`). It acts for no user: it makes and changes
/// users by their external id, issues them tokens, makes conversations and
/// manages their members as their owner would, posts as a member (bots),
/// and bans. Message text follows the same rules as anyone's; the send rate
/// and content filters, which are there against abusive users, do not apply
/// to the product's own backend.
struct ServiceController {
    let store: any ChatStore
    let chat: ChatService
    let tokens: TokenAuthority
    let limits: ChatLimits
    /// The longest token the service may ask for: the server's own lifetime.
    let maxTokenLifetime: Millis
    let now: @Sendable () -> Millis
    let logger: Logger

    struct UserBody: Decodable {
        let handle: String?
        let displayName: String?
        let bot: Bool?
        enum CodingKeys: String, CodingKey {
            case handle, bot
            case displayName = "display_name"
        }
    }

    struct TokenBody: Decodable {
        let ttlS: Int64?
        enum CodingKeys: String, CodingKey { case ttlS = "ttl_s" }
    }

    struct ConversationBody: Decodable {
        let kind: String
        let title: String?
        let ownerID: String?
        let members: [String]?
        enum CodingKeys: String, CodingKey {
            case kind, title, members
            case ownerID = "owner_id"
        }
    }

    struct MemberBody: Decodable {
        let userID: String
        let role: String?
        enum CodingKeys: String, CodingKey {
            case role
            case userID = "user_id"
        }
    }

    struct PostBody: Decodable {
        let `as`: String
        let text: String?
        let clientID: String?
        enum CodingKeys: String, CodingKey {
            case `as`, text
            case clientID = "client_id"
        }
    }

    struct BanBody: Decodable {
        let minutes: Double
        let reason: String?
    }

    /// Ten years: "for good", in a number that fits everywhere.
    static let longestBanMinutes: Double = 10 * 365 * 24 * 60

    func addRoutes(to router: some RouterMethods<ParleyRequestContext>) {
        // One parameter name at one place of a path (Hummingbird's rule):
        // `id` is the external id in PUT, the user id after it.
        router.put("users/:id", use: putUser)
        router.post("users/:id/tokens", use: issueToken)
        router.delete("users/:id", use: erase)
        router.post("conversations", use: createConversation)
        router.post("conversations/:id/members", use: addMember)
        router.delete("conversations/:id/members/:user_id", use: removeMember)
        router.post("conversations/:id/messages", use: post)
        router.delete("conversations/:id/messages/:seq", use: deleteMessage)
        router.put("bans/:user_id", use: ban)
        router.delete("bans/:user_id", use: liftBan)
    }

    // MARK: Users

    @Sendable func putUser(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        // Hummingbird hands the path segment over as sent: decode it once.
        let segment = try context.parameters.require("id")
        let externalID = try ExternalIdentity.externalID(segment.removingPercentEncoding ?? segment)
        let body = try await request.decodeJSON(UserBody.self, context: context)
        let handle = try body.handle.map { handle throws(ChatError) in (handle: handle, key: try Validation.handleKey(handle)) }
        let displayName = try body.displayName.map { name throws(ChatError) in
            try Validation.displayName(name, handle: handle?.handle ?? "", limits: limits)
        }.flatMap { $0.isEmpty ? nil : $0 }
        var status = HTTPResponse.Status.ok
        var account = try await store.account(externalID: externalID)
        if account == nil {
            do {
                let provisioned = try await store.provisionAccount(ExternalAccount(
                    externalID: externalID, handles: handle.map { [$0] } ?? ExternalIdentity.handleCandidates(preferred: nil),
                    displayName: displayName, bot: body.bot ?? false))
                account = provisioned.account
                if provisioned.created { status = .created }
            } catch let error as ChatError where error.code == .conflict {
                throw ChatError.conflict("the handle '\(handle?.handle ?? "")' is taken")
            }
        }
        guard var account else { throw ChatError.userNotFound }
        if status == .ok, handle != nil || displayName != nil || body.bot != nil {
            account = try await store.updateAccount(account.key, handle: handle, displayName: displayName, bot: body.bot)
        }
        return jsonResponse(status) { w in
            w.key("user")
            w.user(account.user)
            w.field("external_id", externalID)
        }
    }

    @Sendable func issueToken(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let account = try await user(try context.parameters.require("id"))
        // The body is optional: none, or an empty one, asks for the default.
        let body = BodyDeadlineMiddleware.hasBody(request) ? try await request.decodeJSON(TokenBody.self, context: context) : TokenBody(ttlS: nil)
        var lifetime = maxTokenLifetime
        if let ttl = body.ttlS {
            guard ttl >= 60, ttl * 1000 <= maxTokenLifetime else {
                throw ChatError.invalidRequest("ttl_s must be between 60 and \(maxTokenLifetime / 1000) seconds")
            }
            lifetime = ttl * 1000
        }
        let issued = try await tokens.issue(for: account, lifetime: lifetime)
        return jsonResponse(.created) { w in
            w.field("token", issued.token)
            w.field("expires_ts", issued.expiresTS)
        }
    }

    /// The account is erased: sign-in, tokens and sockets end on every
    /// node; the text of its messages is removed, their seqs stay.
    @Sendable func erase(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let account = try await user(try context.parameters.require("id"))
        guard try await store.eraseAccount(account.key) else { throw ChatError.userNotFound }
        logger.notice("account erased by the service", metadata: ["user": "\(account.user.id)"])
        return Response(status: .noContent)
    }

    // MARK: Conversations

    @Sendable func createConversation(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(ConversationBody.self, context: context)
        var ids = body.ownerID.map { [$0] } ?? []
        for id in body.members ?? [] where !ids.contains(id) { ids.append(id) }
        switch ConversationKind(rawValue: body.kind) {
        case .direct:
            guard ids.count == 2 else { throw ChatError.invalidRequest("a direct conversation has exactly two members") }
            let first = try await user(ids[0])
            let (conversation, created) = try await chat.openDirect(owner: first, with: ids[1], introducedBy: .service)
            return conversationResponse(conversation, viewer: first, status: created ? .created : .ok)
        case .group:
            // Without an owner_id, the first member owns the group.
            guard let ownerID = ids.first else { throw ChatError.invalidRequest("a group needs owner_id or at least one member") }
            let owner = try await user(ownerID)
            let conversation = try await chat.createGroup(
                owner: owner, title: body.title ?? "", memberIDs: Array(ids.dropFirst()), introducedBy: .service)
            return conversationResponse(conversation, viewer: owner, status: .created)
        case nil:
            throw ChatError.invalidRequest("kind must be \"direct\" or \"group\"")
        }
    }

    @Sendable func addMember(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(MemberBody.self, context: context)
        let role = try MemberRole.parse(body.role ?? "member")
        let conversation = try await conversation(try context.parameters.require("id"))
        let owner = try owner(of: conversation)
        _ = try await store.addMember(
            conversationID: conversation.id, actor: owner.key, userID: body.userID, role: role == .admin ? .admin : .member,
            introducedBy: .service)
        // Made owner: the owner hands the group over (and stays, as an admin).
        if role == .owner {
            _ = try await store.setRole(conversationID: conversation.id, actor: owner.key, userID: body.userID, role: .owner)
        }
        return Response(status: .noContent)
    }

    @Sendable func removeMember(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let conversation = try await conversation(try context.parameters.require("id"))
        _ = try await chat.removeMember(
            conversationID: conversation.id, actor: try owner(of: conversation), userID: try context.parameters.require("user_id"))
        return Response(status: .noContent)
    }

    @Sendable func post(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(PostBody.self, context: context)
        let conversation = try await conversation(try context.parameters.require("id"))
        let sender = try await user(body.as)
        guard conversation.members.contains(where: { $0.account.key == sender.key }) else {
            throw ChatError.forbidden("'as' must be a member of the conversation")
        }
        try Validation.messageText(body.text, limits: limits)
        let clientID = try Validation.clientID(body.clientID, limits: limits)
        let outcome = try await store.append(AppendRequest(
            conversationID: conversation.id, sender: sender, text: body.text ?? "", clientID: clientID, origin: nil))
        return jsonResponse(outcome.duplicate ? .ok : .created) { w in
            w.key("message")
            w.message(outcome.message, showClientID: true)
            w.field("duplicate", outcome.duplicate)
        }
    }

    /// A moderator's delete: the text is removed, the seq stays, and the
    /// members' sessions get `message_updated`.
    @Sendable func deleteMessage(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let conversation = try await conversation(try context.parameters.require("id"))
        guard let seq = Int64(try context.parameters.require("seq")), seq > 0 else {
            throw ChatError.invalidRequest("seq must be a positive whole number")
        }
        _ = try await store.deleteMessage(conversationID: conversation.id, seq: seq, by: nil)
        return Response(status: .noContent)
    }

    // MARK: Bans

    @Sendable func ban(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let account = try await user(try context.parameters.require("user_id"))
        let body = try await request.decodeJSON(BanBody.self, context: context)
        guard body.minutes > 0, body.minutes <= Self.longestBanMinutes else {
            throw ChatError.invalidRequest("minutes must be more than 0 and at most \(Int(Self.longestBanMinutes))")
        }
        let until = now() + Millis(body.minutes * 60_000)
        // Stored and published: every node closes the user's sockets (4403).
        try await store.recordBan(account.key, until: until)
        logger.notice("banned by the service", metadata: [
            "user": "\(account.user.id)", "until": "\(until)", "reason": "\(String((body.reason ?? "").prefix(200)))",
        ])
        return Response(status: .noContent)
    }

    @Sendable func liftBan(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let account = try await user(try context.parameters.require("user_id"))
        _ = try await store.liftBan(account.key, at: now())
        return Response(status: .noContent)
    }

    // MARK: Helpers

    private func user(_ id: String) async throws -> Account {
        guard let account = try await store.account(id: id) else { throw ChatError.userNotFound }
        return account
    }

    private func conversation(_ id: String) async throws -> Conversation {
        guard let conversation = try await store.conversation(id: id) else { throw ChatError.conversationNotFound }
        return conversation
    }

    /// The service changes members as the owner would. A direct
    /// conversation has none: its two members are fixed.
    private func owner(of conversation: Conversation) throws -> Account {
        guard conversation.kind == .group else { throw ChatError.forbidden("a direct conversation's members are fixed") }
        guard let owner = conversation.owner, let member = conversation.members.first(where: { $0.account.user.id == owner.id }) else {
            throw ChatError.forbidden("this group's owner has left it: its members cannot be changed")
        }
        return member.account
    }

    private func conversationResponse(_ conversation: Conversation, viewer: Account, status: HTTPResponse.Status) -> Response {
        chat.conversationResponse(conversation, viewer: viewer, status: status)
    }
}
