import Foundation
import HTTPTypes
import ParleyServer
import Testing

/// The browser client's files: served for GETs that match no route, with
/// headers that stop script injection, never shadowing the API's errors.
@Suite("Browser client files", .timeLimit(.minutes(2)))
struct BrowserClientRouteTests {
    static let csp = HTTPField.Name("Content-Security-Policy")!

    /// A server whose client folder holds `index.html` and `js/app.js`.
    func withClient(_ body: @Sendable (Harness) async throws -> Void) async throws {
        var database = try await TestDatabase()
        let folder = database.directory.appendingPathComponent("public")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("js"), withIntermediateDirectories: true)
        try "<!doctype html><title>Parley</title>".write(to: folder.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try "export const answer = 42;\n".write(to: folder.appendingPathComponent("js/app.js"), atomically: true, encoding: .utf8)
        try "secret".write(to: database.directory.appendingPathComponent("outside.txt"), atomically: true, encoding: .utf8)
        database.configuration.publicDirectory = folder.path
        try await Harness.live(database.configuration, body)
    }

    @Test("/ is index.html and a module is JavaScript, both revalidated and under a strict Content-Security-Policy")
    func servesFiles() async throws {
        try await withClient { h in
            let index = try await h.request(.get, "/")
            #expect(index.status == .ok)
            #expect(index.raw == "<!doctype html><title>Parley</title>")
            #expect(index.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(index.headers[.cacheControl] == "no-cache")
            let policy = try #require(index.headers[Self.csp])
            #expect(policy.contains("script-src 'self'"))
            #expect(policy.contains("default-src 'self'"))
            #expect(!policy.contains("unsafe-inline"))
            #expect(index.headers[.xContentTypeOptions] == "nosniff")

            let module = try await h.request(.get, "/js/app.js")
            #expect(module.status == .ok)
            #expect(module.raw == "export const answer = 42;\n")
            #expect(module.headers[.contentType]?.contains("javascript") == true, "browsers refuse modules of another type")

            // A browser that has the file gets 304.
            let eTag = try #require(module.headers[.eTag])
            let again = try await h.request(.get, "/js/app.js", headers: [.ifNoneMatch: eTag])
            #expect(again.status == .notModified)
        }
    }

    @Test("a missing file and an unknown API route keep the JSON 404; paths out of the folder are refused")
    func keepsErrors() async throws {
        try await withClient { h in
            for path in ["/missing.js", "/v1/nothing-here"] {
                let reply = try await h.request(.get, path)
                #expect(reply.status == .notFound, "\(path)")
                #expect(reply.body["error"]["code"].string == "not_found", "\(path)")
                #expect(reply.headers[Self.csp] != nil, "every answer carries the policy")
            }
            for path in ["/../outside.txt", "/js/%2e%2e/%2e%2e/outside.txt"] {
                let reply = try await h.request(.get, path)
                #expect(reply.status.code >= 400, "\(path)")
                #expect(!reply.raw.contains("secret"), "\(path)")
            }
            // The API is unchanged: a route still answers JSON.
            let me = try await h.request(.get, "/v1/me")
            #expect(me.status == .unauthorized)
            #expect(me.body["error"]["code"].string == "unauthorized")
        }
    }

    @Test("with no client folder the server serves the API alone")
    func apiOnly() async throws {
        var database = try await TestDatabase()
        database.configuration.publicDirectory = database.directory.appendingPathComponent("absent").path
        try await Harness.live(database.configuration) { h in
            let reply = try await h.request(.get, "/")
            #expect(reply.status == .notFound)
            #expect(reply.body["error"]["code"].string == "not_found")
        }
    }
}
