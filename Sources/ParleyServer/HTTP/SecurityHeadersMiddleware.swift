import HTTPTypes
import Hummingbird
import Logging

/// Headers that make the browser refuse whatever a message could smuggle
/// in: no inline or foreign script, no framing, no content sniffing. On every
/// response, so an API answer opened in a tab is as safe as the client.
/// API answers are private to one user's token: no cache (a browser's, a
/// proxy's) may keep them.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    static let contentSecurityPolicy = [
        "default-src 'self'", "connect-src 'self'", "img-src 'self' data:", "style-src 'self'", "script-src 'self'",
        "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "no-referrer"
        if request.uri.path == "/v1" || request.uri.path.hasPrefix("/v1/") {
            response.headers[.cacheControl] = "no-store"
        }
        return response
    }
}
