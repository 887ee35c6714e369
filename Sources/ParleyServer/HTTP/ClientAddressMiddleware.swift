import HTTPTypes
import Hummingbird

/// Names the client of each request for the per-address limits: the TCP
/// peer, or, behind a trusted proxy, the client it forwarded for.
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let proxies: TrustedProxies

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !proxies.networks.isEmpty else { return try await next(request, context) }
        var context = context
        context.clientAddress = proxies.clientAddress(peer: context.clientAddress, forwardedFor: request.headers[values: Self.forwardedFor])
        return try await next(request, context)
    }
}
