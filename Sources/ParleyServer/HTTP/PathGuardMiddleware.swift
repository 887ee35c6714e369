import Foundation
import Hummingbird
import ParleyCore

/// Refuses paths with a NUL or another control character, once decoded.
/// No route or file has one, and a file system reads a name only up to its
/// NUL: `/js/main.js%00.html` would serve `main.js` with the type of `.html`.
struct PathGuardMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let path = request.uri.path.removingPercentEncoding else {
            throw ChatError.invalidRequest("the path is not valid percent-encoding")
        }
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ChatError.invalidRequest("the path must not contain control characters")
        }
        return try await next(request, context)
    }
}
