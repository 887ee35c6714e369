import Hummingbird
import ParleyCore
import ParleyStore

/// `/v1/conversations…`: conversations, membership, history, HTTP send, read marks.
struct ConversationController {
    let chat: ChatService

    struct Create: Decodable {
        let kind: String
        let with: String?
        let title: String?
        let members: [String]?
    }

    struct MemberBody: Decodable {
        let userID: String
        enum CodingKeys: String, CodingKey { case userID = "user_id" }
    }

    struct SendBody: Decodable {
        let text: String?
        let clientID: String?
        enum CodingKeys: String, CodingKey {
            case text
            case clientID = "client_id"
        }
    }

    struct ReadBody: Decodable {
        let seq: Int64
    }

    struct RoleBody: Decodable {
        let role: String
    }

    struct InviteBody: Decodable {
        let expiresInS: Int64?
        let maxUses: Int?
        enum CodingKeys: String, CodingKey {
            case expiresInS = "expires_in_s"
            case maxUses = "max_uses"
        }
    }

    func addRoutes(to router: some RouterMethods<ParleyRequestContext>) {
        router.post("conversations", use: create)
        router.get("conversations", use: list)
        router.get("conversations/:id", use: show)
        router.post("conversations/:id/members", use: addMember)
        router.delete("conversations/:id/members/:user_id", use: removeMember)
        router.get("conversations/:id/messages", use: history)
        router.post("conversations/:id/messages", use: send)
        router.post("conversations/:id/read", use: read)
        router.post("conversations/:id/accept", use: accept)
        router.post("conversations/:id/decline", use: decline)
        router.put("conversations/:id/members/:user_id", use: setRole)
        router.delete("conversations/:id/messages/:seq", use: deleteMessage)
        router.post("conversations/:id/invites", use: createInvite)
        router.get("conversations/:id/invites", use: listInvites)
        router.delete("conversations/:id/invites/:code", use: revokeInvite)
        router.post("invites/:code/accept", use: acceptInvite)
    }

    @Sendable func create(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = try await request.decodeJSON(Create.self, context: context)
        switch ConversationKind(rawValue: body.kind) {
        case .direct:
            guard let with = body.with else { throw ChatError.invalidRequest("with is required for a direct conversation") }
            let (conversation, created) = try await chat.openDirect(owner: identity.account, with: with)
            return conversationResponse(conversation, viewer: identity.account, status: created ? .created : .ok)
        case .group:
            let conversation = try await chat.createGroup(owner: identity.account, title: body.title ?? "", memberIDs: body.members ?? [])
            return conversationResponse(conversation, viewer: identity.account, status: .created)
        case nil:
            throw ChatError.invalidRequest("kind must be \"direct\" or \"group\"")
        }
    }

    @Sendable func list(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let page = try await chat.conversations(
            of: identity.account, limit: try request.queryInt("limit"), cursor: request.uri.queryParameters.get("cursor"))
        let hub = chat.hub
        return jsonResponse { w in
            w.key("conversations")
            w.beginArray()
            for conversation in page.conversations {
                w.conversation(conversation, viewer: identity.account, isOnline: hub.isOnline)
            }
            w.endArray()
            w.field("next_cursor", page.nextCursor.map(chat.cursors.seal))
        }
    }

    @Sendable func show(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let conversation = try await chat.conversation(id: try context.parameters.require("id"), viewer: identity.account)
        return conversationResponse(conversation, viewer: identity.account, status: .ok)
    }

    @Sendable func addMember(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = try await request.decodeJSON(MemberBody.self, context: context)
        _ = try await chat.addMember(
            conversationID: try context.parameters.require("id"), actor: identity.account, userID: body.userID)
        return Response(status: .noContent)
    }

    @Sendable func removeMember(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        _ = try await chat.removeMember(
            conversationID: try context.parameters.require("id"), actor: identity.account,
            userID: try context.parameters.require("user_id"))
        return Response(status: .noContent)
    }

    @Sendable func history(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = try HistoryRequest(
            conversationID: try context.parameters.require("id"), after: try request.queryInt("after", as: Int64.self),
            before: try request.queryInt("before", as: Int64.self), sinceTS: try request.queryInt("since_ts", as: Int64.self),
            limit: try request.queryInt("limit"))
        let page = try await chat.history(query, viewer: identity.account)
        return jsonResponse { w in
            w.key("messages")
            w.messages(page, viewer: identity.account.user)
            w.field("has_more", page.hasMore)
        }
    }

    @Sendable func send(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = try await request.decodeJSON(SendBody.self, context: context)
        let conversationID = try context.parameters.require("id")
        let send: SendRequest
        do throws(ChatError) {
            send = try SendRequest(conversationID: conversationID, text: body.text, clientID: body.clientID)
        } catch {
            throw chat.refuseSend(error, from: identity.account)
        }
        let outcome = try await chat.send(send, from: identity.account)
        // A retry of a stored client_id is not an error: it answers with the
        // original message, 200 instead of 201, and says so.
        return jsonResponse(outcome.duplicate ? .ok : .created) { w in
            w.key("message")
            w.message(outcome.message, showClientID: true)
            w.field("duplicate", outcome.duplicate)
        }
    }

    @Sendable func read(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = try await request.decodeJSON(ReadBody.self, context: context)
        _ = try await chat.markRead(
            conversationID: try context.parameters.require("id"), reader: identity.account, seq: body.seq, origin: nil)
        return Response(status: .noContent)
    }

    @Sendable func accept(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let conversation = try await chat.accept(conversationID: try context.parameters.require("id"), member: identity.account)
        return conversationResponse(conversation, viewer: identity.account, status: .ok)
    }

    @Sendable func decline(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try await chat.decline(conversationID: try context.parameters.require("id"), member: identity.account)
        return Response(status: .noContent)
    }

    /// Only the owner changes roles; `owner` hands the group over.
    @Sendable func setRole(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = try await request.decodeJSON(RoleBody.self, context: context)
        let change = try await chat.setRole(
            conversationID: try context.parameters.require("id"), actor: identity.account,
            userID: try context.parameters.require("user_id"), role: try MemberRole.parse(body.role))
        return conversationResponse(change.conversation, viewer: identity.account, status: .ok)
    }

    /// Your own messages; the owner and admins any.
    @Sendable func deleteMessage(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        guard let seq = Int64(try context.parameters.require("seq")), seq > 0 else {
            throw ChatError.invalidRequest("seq must be a positive whole number")
        }
        _ = try await chat.deleteMessage(conversationID: try context.parameters.require("id"), seq: seq, by: identity.account)
        return Response(status: .noContent)
    }

    @Sendable func createInvite(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = BodyDeadlineMiddleware.hasBody(request)
            ? try await request.decodeJSON(InviteBody.self, context: context) : InviteBody(expiresInS: nil, maxUses: nil)
        let invite = try await chat.createInvite(
            conversationID: try context.parameters.require("id"), actor: identity.account, expiresInSeconds: body.expiresInS,
            maxUses: body.maxUses)
        return jsonResponse(.created) { w in
            w.key("invite")
            Self.write(invite, to: &w)
        }
    }

    @Sendable func listInvites(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let invites = try await chat.invites(conversationID: try context.parameters.require("id"), actor: identity.account)
        return jsonResponse { w in
            w.key("invites")
            w.beginArray()
            for invite in invites { Self.write(invite, to: &w) }
            w.endArray()
        }
    }

    private static func write(_ invite: Invite, to w: inout JSONWriter) {
        w.beginObject()
        w.field("code", invite.code)
        w.field("expires_ts", invite.expiresTS)
        w.field("max_uses", invite.maxUses.map(Int64.init))
        w.field("uses", Int64(invite.uses))
        w.endObject()
    }

    @Sendable func revokeInvite(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try await chat.revokeInvite(
            conversationID: try context.parameters.require("id"), actor: identity.account, code: try context.parameters.require("code"))
        return Response(status: .noContent)
    }

    @Sendable func acceptInvite(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let conversation = try await chat.acceptInvite(code: try context.parameters.require("code"), member: identity.account)
        return conversationResponse(conversation, viewer: identity.account, status: .ok)
    }

    private func conversationResponse(_ conversation: Conversation, viewer: Account, status: HTTPResponse.Status) -> Response {
        chat.conversationResponse(conversation, viewer: viewer, status: status)
    }
}

extension ChatService {
    /// `{conversation}` as `viewer` sees it, with presence as this node knows it.
    func conversationResponse(_ conversation: Conversation, viewer: Account, status: HTTPResponse.Status) -> Response {
        let hub = self.hub
        return jsonResponse(status) { w in
            w.key("conversation")
            w.conversation(conversation, viewer: viewer, isOnline: hub.isOnline)
        }
    }
}
