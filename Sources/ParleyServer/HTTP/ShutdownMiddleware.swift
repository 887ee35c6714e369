import Hummingbird
import ParleyCore

/// During the graceful shutdown, HTTP requests are answered 503 so that
/// clients go elsewhere.
struct ShutdownMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let shutdown: GracefulShutdown

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !shutdown.isUnderWay else { throw ChatError(.unavailable, "the server is shutting down: retry in a moment") }
        return try await next(request, context)
    }
}
