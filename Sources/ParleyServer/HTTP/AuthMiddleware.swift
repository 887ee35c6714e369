import Foundation
import Hummingbird
import ParleyCore

/// Requires `Authorization: Bearer <token>`. Tokens in the query string are
/// never looked at: URLs end up in logs.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let tokens: TokenAuthority
    let bans: BanList

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = bearerToken(request.headers[.authorization]) else { throw ChatError.unauthorized }
        var context = context
        let identity = try await tokens.authenticate(token)
        try bans.check(identity.account.key)
        context.identity = identity
        return try await next(request, context)
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
func bearerToken(_ header: String?) -> String? {
    guard let header else { return nil }
    let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
    return String(parts[1]).trimmingCharacters(in: .whitespaces)
}
