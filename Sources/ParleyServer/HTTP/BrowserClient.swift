import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Serves the browser client's files (`Public/`) for any GET that matches no
/// route, so `/v1/...` keeps its JSON errors and `/` is the client.
public enum BrowserClient {
    /// Whether `path` names an existing folder.
    public static func isFolder(_ path: String) -> Bool {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
    }

    static func add(to router: Router<ParleyRequestContext>, directory: String?, logger: Logger) {
        guard let directory, !directory.isEmpty else { return }
        guard isFolder(directory) else {
            logger.warning("no browser client at '\(directory)': serving the API only")
            return
        }
        router.add(
            middleware: FileMiddleware(
                directory,
                // Revalidate every time (ETag), so a new client shows at once.
                cacheControl: CacheControl([(MediaType(type: .any), [.noCache])]),
                searchForIndexHtml: true,
                logger: logger))
    }
}

/// Headers that make the browser refuse whatever a message could smuggle
/// in: no inline or foreign script, no framing, no content sniffing. On every
/// response, so an API answer opened in a tab is as safe as the client.
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
        return response
    }
}
