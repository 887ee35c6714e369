import Hummingbird
import ParleyCore

/// Bodies larger than the server takes are refused (413) before they are read.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let maxBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes {
            throw ChatError.tooLarge("the request body is larger than \(maxBytes) bytes")
        }
        var context = context
        context.maxBodyBytes = maxBytes
        return try await next(request, context)
    }
}
