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
        router.add(middleware: PathGuardMiddleware())
        router.add(
            middleware: FileMiddleware(
                directory,
                // Revalidate every time (ETag), so a new client shows at once.
                cacheControl: CacheControl([(MediaType(type: .any), [.noCache])]),
                searchForIndexHtml: true,
                logger: logger))
    }
}
