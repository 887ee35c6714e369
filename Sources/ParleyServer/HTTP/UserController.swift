import Hummingbird
import ParleyCore
import ParleyStore

/// `/v1/users…` (search, presence) and `/v1/blocks…`.
struct UserController {
    let chat: ChatService

    func addRoutes(to router: some RouterMethods<ParleyRequestContext>) {
        router.get("users", use: search)
        router.get("users/:handle", use: presence)
        router.get("blocks", use: blocks)
        router.put("blocks/:user_id", use: block)
        router.delete("blocks/:user_id", use: unblock)
    }

    @Sendable func search(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.requireIdentity()
        let users = try await chat.searchUsers(query: request.uri.queryParameters.get("q"), limit: try request.queryInt("limit"))
        return usersResponse(users)
    }

    @Sendable func presence(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let view = try await chat.presence(ofHandle: try context.parameters.require("handle"), viewer: identity.account)
        let state = chat.presenceState(view)
        return jsonResponse { w in
            w.key("user")
            w.user(view.account.user)
            w.field("online", state.online)
            w.field("last_seen_ts", state.lastSeenTS)
        }
    }

    @Sendable func blocks(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        return usersResponse(try await chat.blockedUsers(of: identity.account))
    }

    @Sendable func block(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try await chat.block(userID: try context.parameters.require("user_id"), by: identity.account)
        return Response(status: .noContent)
    }

    @Sendable func unblock(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try await chat.unblock(userID: try context.parameters.require("user_id"), by: identity.account)
        return Response(status: .noContent)
    }

    private func usersResponse(_ users: [User]) -> Response {
        jsonResponse { w in
            w.key("users")
            w.beginArray()
            for user in users { w.user(user) }
            w.endArray()
        }
    }
}
