import Crypto
import Foundation
import HTTPTypes
import NIOCore
import Testing

// Helpers shared by the HTTP route suites (AccountRouteTests,
// ConversationRouteTests, MessageRouteTests). They build on Support/Harness.swift.

typealias RouteReply = Harness.Reply

extension Harness {
    /// Sends a request like `request`, keeps the raw body, and checks what every
    /// response of the route suites must satisfy: a body is JSON, every id in it
    /// is opaque, no e-mail and no numeric id appears, every `user` has exactly
    /// `{id, handle, display_name}`, and an error has the contract's shape.
    func call(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: [String: Any]? = nil, rawBody: String? = nil,
        headers extra: HTTPFields = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> RouteReply {
        let reply = try await request(method, path, token: token, json: json, rawBody: rawBody, headers: extra)
        let parsed = reply.body
        if !reply.raw.isEmpty {
            if (try? JSON.parse(reply.raw)) == nil {
                Issue.record("\(method) \(path): the response body is not JSON: \(reply.raw.prefix(200))", sourceLocation: sourceLocation)
            }
            #expect(
                reply.headers[.contentType] == "application/json; charset=utf-8",
                "\(method) \(path): Content-Type is \(reply.headers[.contentType] ?? "absent")", sourceLocation: sourceLocation)
        }
        checkWire(parsed, at: "\(method) \(path)", sourceLocation: sourceLocation)
        if reply.status.code >= 400 {
            checkErrorShape(parsed, raw: reply.raw, at: "\(method) \(path)", sourceLocation: sourceLocation)
        }
        return reply
    }

    /// A fresh connection for one request: for bodies the server may refuse
    /// without reading them, which can end the connection.
    var freshConnection: Harness { Harness(port: port, closeAfterEachRequest: true) }

    /// Sends a message over HTTP and returns the stored `message` object.
    @discardableResult
    func send(
        _ user: TestUser, _ conversation: String, _ text: String, clientID: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSON {
        let reply = try await call(
            .post, "/v1/conversations/\(conversation)/messages", token: user.token,
            json: ["text": text, "client_id": clientID ?? UUID().uuidString], sourceLocation: sourceLocation)
        guard reply.status == .created else {
            throw TestFailure("send by \(user.handle) failed: \(reply.status) \(reply.raw)")
        }
        return reply.body["message"]
    }

    /// `GET /v1/conversations/{id}` as `user`; the conversation object.
    func show(_ user: TestUser, _ conversation: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSON {
        let reply = try await call(.get, "/v1/conversations/\(conversation)", token: user.token, sourceLocation: sourceLocation)
        guard reply.status == .ok else { throw TestFailure("show failed: \(reply.status) \(reply.raw)") }
        return reply.body["conversation"]
    }

    /// `history`, with the checks of `call`: messages after seq 0, up to 200.
    func messages(_ user: TestUser, _ conversation: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [JSON] {
        let reply = try await call(
            .get, "/v1/conversations/\(conversation)/messages?after=0&limit=200", token: user.token, sourceLocation: sourceLocation)
        guard reply.status == .ok else { throw TestFailure("history failed: \(reply.status) \(reply.raw)") }
        return reply.body["messages"].array
    }

    /// The ids of `user`'s conversations, in list order (one page of up to 100).
    func listIDs(_ user: TestUser, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
        let reply = try await call(.get, "/v1/conversations?limit=100", token: user.token, sourceLocation: sourceLocation)
        guard reply.status == .ok else { throw TestFailure("list failed: \(reply.status) \(reply.raw)") }
        return reply.body["conversations"].array.compactMap { $0["id"].string }
    }
}

/// Every id-like field is opaque (but the product's own `external_id`, which
/// only the service API answers with), nothing looks like an e-mail address, users
/// have exactly their three fields, and `bot: true` for bots.
func checkWire(_ json: JSON, at context: String, path: String = "$", sourceLocation: SourceLocation) {
    switch json {
    case .object(let fields):
        for (key, value) in fields {
            let here = "\(path).\(key)"
            // A flag about e-mail (`email_code` in /v1/sign-in) is no address.
            #expect(
                !key.lowercased().contains("mail") || value.bool != nil, "\(context): \(here) looks like an e-mail field",
                sourceLocation: sourceLocation)
            #expect(!(value.string ?? "").contains("@"), "\(context): \(here) contains an '@': \(value)", sourceLocation: sourceLocation)
            if key == "id" || (key.hasSuffix("_id") && key != "client_id" && key != "external_id") {
                #expect(isOpaqueID(value), "\(context): \(here) is not an opaque id: \(value)", sourceLocation: sourceLocation)
            }
            if key == "user" || key == "sender" {
                let keys = value["bot"].bool == true ? ["id", "handle", "display_name", "bot"] : ["id", "handle", "display_name"]
                #expect(value.keys == Set(keys), "\(context): \(here) has keys \(value.keys.sorted())", sourceLocation: sourceLocation)
            }
            checkWire(value, at: context, path: here, sourceLocation: sourceLocation)
        }
    case .array(let items):
        for (index, item) in items.enumerated() {
            checkWire(item, at: context, path: "\(path)[\(index)]", sourceLocation: sourceLocation)
        }
    default:
        break
    }
}

/// `{"error":{"code":"…","message":"…"}}`, code first, message not empty.
func checkErrorShape(_ body: JSON, raw: String, at context: String, sourceLocation: SourceLocation) {
    #expect(body.keys == ["error"], "\(context): error body \(raw)", sourceLocation: sourceLocation)
    // `retry_after_ms` comes with `rate_limited`, and only with it.
    let expectedKeys: Set<String> = body["error"]["code"].string == "rate_limited" ? ["code", "message", "retry_after_ms"] : ["code", "message"]
    #expect(body["error"].keys == expectedKeys, "\(context): error body \(raw)", sourceLocation: sourceLocation)
    #expect(!(body["error"]["message"].string ?? "").isEmpty, "\(context): empty message in \(raw)", sourceLocation: sourceLocation)
    #expect(raw.hasPrefix(#"{"error":{"code":""#), "\(context): error body \(raw)", sourceLocation: sourceLocation)
}

/// Asserts an error reply: exact status and code (the shape is checked by `call`).
func expectError(
    _ reply: RouteReply, _ status: HTTPResponse.Status, _ code: String, _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(reply.status == status, "\(comment) expected \(status.code) \(code), got \(reply.status.code) \(reply.raw)", sourceLocation: sourceLocation)
    #expect(reply.body["error"]["code"].string == code, "\(comment) got \(reply.raw)", sourceLocation: sourceLocation)
}

/// Asserts a 204 with no body.
func expectNoContent(_ reply: RouteReply, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == .noContent, "\(comment) expected 204, got \(reply.status.code) \(reply.raw)", sourceLocation: sourceLocation)
    #expect(reply.raw.isEmpty, "\(comment) a 204 has a body: \(reply.raw)", sourceLocation: sourceLocation)
}

/// A well-formed id (22 characters of base64url, 128 random bits) that the
/// server never handed out.
func unknownOpaqueID() -> String {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    return base64URL(Data(bytes))
}

func base64URL(_ data: Data) -> String {
    data.base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

func nowMillis() -> Int {
    Int((Date().timeIntervalSince1970 * 1000).rounded(.down))
}

/// Waits until the wall clock is past `ts` (ms). Ordering by time needs time
/// to move: a message sent in the same millisecond as a conversation was
/// created ties with it. This is the only wait in the route suites; it lasts a
/// millisecond or two.
func waitForClock(toPass ts: Int) async throws {
    while nowMillis() <= ts {
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// HS256 JWTs made by hand, to check what the server accepts.
enum ForgedToken {
    static let header = #"{"alg":"HS256","typ":"JWT"}"#

    static func make(
        sub: String, jti: String = unknownOpaqueID(), iat: Int = nowMillis() / 1000, exp: Int = nowMillis() / 1000 + 3600,
        secret: String = TestDatabase.jwtSecret, header: String = header
    ) -> String {
        let payload = #"{"sub":"\#(sub)","jti":"\#(jti)","iat":\#(iat),"exp":\#(exp)}"#
        let input = base64URL(Data(header.utf8)) + "." + base64URL(Data(payload.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + base64URL(Data(mac))
    }

    /// An unsigned token (`alg: none`) for `sub`.
    static func unsigned(sub: String) -> String {
        let now = nowMillis() / 1000
        let payload = #"{"sub":"\#(sub)","jti":"\#(unknownOpaqueID())","iat":\#(now),"exp":\#(now + 3600)}"#
        return base64URL(Data(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + base64URL(Data(payload.utf8)) + "."
    }
}

/// The checks above must be able to fail: each is shown a body it must reject.
@Suite("HTTP routes: the suites' own wire checks", .timeLimit(.minutes(2)))
struct HelperRouteTests {
    @Test("the wire check rejects numeric ids, e-mails and users with extra fields")
    func wireCheckFails() throws {
        let bodies = [
            #"{"user":{"id":42,"handle":"alice","display_name":"Alice"}}"#,
            #"{"user":{"id":"GxacYtUa53AfcHXw2UUU0g","handle":"alice","display_name":"Alice","email":"a@example.org"}}"#,
            #"{"conversation":{"owner_id":"short","members":[]}}"#,
            #"{"messages":[{"id":"HZnYZRem70OglJSAELJMCA","sender":{"id":"GxacYtUa53AfcHXw2UUU0g","handle":"a","display_name":"a","row_id":7}}]}"#,
            #"{"user":{"id":"GxacYtUa53AfcHXw2UUU0=","handle":"alice","display_name":"Alice"}}"#,
        ]
        for body in bodies {
            let json = try JSON.parse(body)
            withKnownIssue(Comment(rawValue: body)) {
                checkWire(json, at: "self-test", sourceLocation: #_sourceLocation)
            }
        }
        // And it accepts the documented shape.
        let good = try JSON.parse(
            #"{"message":{"id":"HZnYZRem70OglJSAELJMCA","conversation_id":"HRJCRHULSBGHBBPMvGwiqw","seq":1,"sender":{"id":"GxacYtUa53AfcHXw2UUU0g","handle":"alice","display_name":"Alice"},"text":"hi","ts":1,"client_id":"c-1"},"duplicate":false}"#)
        checkWire(good, at: "self-test", sourceLocation: #_sourceLocation)
    }

    @Test("the error check rejects bodies without the contract's shape")
    func errorCheckFails() throws {
        for raw in [#"{"error":"not_found"}"#, #"{"error":{"code":"not_found","message":""}}"#, #"{"code":"not_found","message":"x"}"#,
                    #"{"error":{"message":"x","code":"not_found"}}"#] {
            let json = try JSON.parse(raw)
            withKnownIssue(Comment(rawValue: raw)) {
                checkErrorShape(json, raw: raw, at: "self-test", sourceLocation: #_sourceLocation)
            }
        }
        let raw = #"{"error":{"code":"not_found","message":"conversation not found"}}"#
        checkErrorShape(try JSON.parse(raw), raw: raw, at: "self-test", sourceLocation: #_sourceLocation)
    }
}
