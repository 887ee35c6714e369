import Foundation
import Testing

/// The low findings of the black-box security review (issue 16), each
/// reproduced against the real binary and shown refused.
@Suite("Security review findings", .timeLimit(.minutes(3)))
struct SecurityReviewTests {
    @Test("display names and titles that impersonate (A\\u{200B}dmin, U+202E, U+2066) are refused with 400 and nothing is stored")
    func deceptiveNames() async throws {
        let database = try TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        for (n, name) in ["A\u{200B}dmin", "evil\u{202E}gnp.exe", "\u{2066}Admin\u{2069}", "Ad\u{FEFF}min"].enumerated() {
            let reply = try await h.call(
                .post, "/v1/accounts", json: ["handle": "mallory\(n)", "password": "correct horse battery", "display_name": name])
            expectError(reply, .badRequest, "invalid_request", "display_name \(name.unicodeScalars.map { String($0.value, radix: 16) }):")
            expectError(
                try await h.call(.post, "/v1/tokens", json: ["handle": "mallory\(n)", "password": "correct horse battery"]),
                .unauthorized, "unauthorized", "the refused account was not created:")
        }
        let admin = try await h.signUp("admin", displayName: "Admin")
        let reply = try await h.call(
            .post, "/v1/conversations", token: admin.token, json: ["kind": "group", "title": "Pay\u{202E}lanigiro", "members": []])
        expectError(reply, .badRequest, "invalid_request")
        #expect(try await h.listIDs(admin) == [])
    }
}
