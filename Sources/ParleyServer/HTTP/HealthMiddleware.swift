import Hummingbird
import ParleyStore

/// `GET /healthz` and `GET /readyz` for load balancers and supervisors.
/// Added before the shutdown middleware: a draining node is still alive
/// (`/healthz` 200) but no longer ready (`/readyz` 503). Neither needs a
/// token, and neither says more than its status.
struct HealthMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let readiness: ReadinessProbe

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head else { return try await next(request, context) }
        switch request.uri.path {
        case "/healthz":
            return status(.ok, "ok")
        case "/readyz":
            return await readiness.isReady() ? status(.ok, "ok") : status(.serviceUnavailable, "unavailable")
        default:
            return try await next(request, context)
        }
    }

    private func status(_ code: HTTPResponse.Status, _ text: String) -> Response {
        var response = jsonResponse(code) { w in
            w.key("status")
            w.string(text)
        }
        response.headers[.cacheControl] = "no-store"
        return response
    }
}
