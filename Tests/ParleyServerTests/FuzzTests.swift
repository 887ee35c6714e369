import Foundation
import HTTPTypes
import Testing

/// Tens of thousands of broken and hostile frames and bodies at a live
/// server: every one is answered with a clear error, the server stays up,
/// and a well-behaved client keeps chatting alongside.
@Suite("Fuzzing", .timeLimit(.minutes(3)))
struct FuzzTests {
    static let frameCount = 20_000
    static let bodyCount = 2_000

    @Test("20,000 malformed frames each get one error, the socket stays usable, and others keep chatting")
    func frames() async throws {
        var database = try await TestDatabase()
        // Here every bad frame must be answered; closing for misuse (4400)
        // is tested in AbuseTests.
        database.configuration.abuse.protocolWarnings = Int.max / 2
        try await Harness.live(database.configuration) { h in
            let fuzzer = try await h.signUp("fuzzer")
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let fuzzedConversation = try await h.direct(fuzzer, alice)
            let (socket, _) = try await h.socket(fuzzer)
            let (aliceSocket, _) = try await h.socket(alice)
            let (bobSocket, _) = try await h.socket(bob)

            var generator = SplitMix64(seed: 0x5EED_CAFE)
            let frames = (0..<Self.frameCount).map { _ in FuzzFrame.make(&generator, conversation: fuzzedConversation) }

            // Alice and Bob chat the whole time.
            let chat = Task {
                var delivered = 0
                for n in 0..<50 {
                    try await aliceSocket.send(["type": "send", "id": "a\(n)", "conversation_id": conversation, "text": "still here \(n)", "client_id": "c\(n)"])
                    _ = try await aliceSocket.next(type: "ack")
                    let message = try await bobSocket.next(type: "message")
                    if message["message"]["text"].string == "still here \(n)" { delivered += 1 }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return delivered
            }

            // Pipelined, with a bounded number of unanswered frames so that
            // the server's queue for this socket stays small.
            let window = 256
            var sent = 0, answered = 0, errors = 0, unexpected: [String] = []
            while answered < frames.count {
                while sent < frames.count, sent - answered < window {
                    switch frames[sent] {
                    case .text(let text): try await socket.sendText(text)
                    case .binary(let bytes): try await socket.sendBinary(bytes)
                    }
                    sent += 1
                }
                let reply = try await socket.next(timeout: .seconds(30))
                answered += 1
                if reply["type"].string == "error", let code = reply["code"].string, !code.isEmpty,
                    !(reply["message"].string ?? "").isEmpty, reply.keys.contains("re")
                {
                    errors += 1
                    if code != "invalid_request" && code != "not_found" && code != "too_large" && code != "unauthorized" {
                        unexpected.append(reply.description)
                    }
                } else {
                    unexpected.append(reply.description)
                }
            }
            #expect(errors == frames.count, "every malformed frame got exactly one error")
            #expect(unexpected.count == 0, "unexpected replies, for example: \(unexpected.prefix(3))")
            try await socket.expectAlive()
            #expect(try await chat.value == 50, "the well-behaved pair got every message")
            // Nothing malformed was stored.
            #expect(try await h.history(alice, fuzzedConversation).isEmpty)
            for socket in [socket, aliceSocket, bobSocket] { await socket.close() }
        }
    }

    @Test("2,000 malformed HTTP bodies each get a 4xx with the error shape, never a 5xx, and nothing is stored")
    func bodies() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            var generator = SplitMix64(seed: 0xB0D1E5)
            let routes: [(HTTPRequest.Method, String, String?)] = [
                (.post, "/v1/accounts", nil), (.post, "/v1/tokens", nil), (.post, "/v1/conversations", alice.token),
                (.post, "/v1/conversations/\(conversation)/messages", alice.token),
                (.post, "/v1/conversations/\(conversation)/read", alice.token),
                (.post, "/v1/conversations/\(conversation)/members", alice.token),
            ]
            var statuses: [Int: Int] = [:]
            for index in 0..<Self.bodyCount {
                let (method, path, token) = routes[index % routes.count]
                let body = FuzzBody.make(&generator, conversation: conversation)
                let reply = try await h.request(method, path, token: token, rawBody: body, headers: [.contentType: "application/json"])
                statuses[reply.status.code, default: 0] += 1
                #expect((400..<500).contains(reply.status.code), "\(path) with \(body.prefix(80)): \(reply.status.code) \(reply.raw.prefix(200))")
                #expect(reply.body["error"]["code"].string != nil, "\(path): \(reply.raw.prefix(200))")
            }
            #expect(statuses.keys.allSatisfy { $0 < 500 }, "statuses: \(statuses)")
            #expect(try await h.history(alice, conversation).isEmpty)
            // And the server still works.
            #expect(try await h.request(.get, "/v1/me", token: alice.token).status == .ok)
        }
    }
}

/// A small, fast, seeded generator: the same frames on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum FuzzFrame {
    case text(String)
    case binary([UInt8])

    /// One frame that is wrong in some way, each of which the server must
    /// answer with exactly one `error`.
    static func make(_ g: inout SplitMix64, conversation: String) -> FuzzFrame {
        let id = "f\(g.next() % 1_000_000)"
        switch g.next() % 14 {
        case 0: return .text(randomText(&g, length: Int(g.next() % 200)))
        case 1: return .text(String(validJSON(&g, conversation: conversation, id: id).dropLast(Int(g.next() % 10) + 1)))
        case 2: return .text(#"{"type":\#(wrongValue(&g)),"id":"\#(id)"}"#)
        case 3: return .text(#"{"type":"send","id":"\#(id)","conversation_id":\#(wrongValue(&g)),"text":"x","client_id":"c"}"#)
        case 4: return .text(#"{"type":"history","id":"\#(id)","conversation_id":"\#(conversation)","limit":\#(hugeNumber(&g))}"#)
        case 5: return .text(#"{"type":"read","id":"\#(id)","conversation_id":"\#(conversation)","seq":\#(hugeNumber(&g))}"#)
        case 6:
            let depth = Int(g.next() % 20_000) + 1
            return .text(String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
        case 7:
            let depth = Int(g.next() % 5_000) + 1
            return .text(String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth))
        case 8: return .binary((0..<Int(g.next() % 300)).map { _ in UInt8(truncatingIfNeeded: g.next()) } + [0xC3, 0x28, 0xFF])
        case 9: return .text(#"{"type":"\#(randomText(&g, length: 12).filter { $0 != "\"" && $0 != "\\" })","id":"\#(id)"}"#)
        case 10: return .text(#"{"type":"send","id":"\#(id)","conversation_id":"\#(conversation)"}"#)
        case 11: return .text(#"{"type":"presence","id":"\#(id)","user_ids":\#(["123", "null", "true", "[1,2]", #"{"a":"b"}"#, "1e400"][Int(g.next() % 6)])}"#)
        case 12: return .text(#"{"type":"auth","id":"\#(id)","token":"\#(randomText(&g, length: 40).filter { $0.isLetter })"}"#)
        default: return .text(["null", "true", "42", #""just a string""#, "[]", "{}", #"{"id":"\#(id)"}"#][Int(g.next() % 7)])
        }
    }

    static func validJSON(_ g: inout SplitMix64, conversation: String, id: String) -> String {
        #"{"type":"history","id":"\#(id)","conversation_id":"\#(conversation)","after":0,"limit":5}"#
    }

    static func wrongValue(_ g: inout SplitMix64) -> String {
        [#"123"#, "null", "true", "[1,2]", #"{"a":"b"}"#, "1e400", "-0.5", #"["x"]"#][Int(g.next() % 8)]
    }

    static func hugeNumber(_ g: inout SplitMix64) -> String {
        ["1e400", "-1e400", "99999999999999999999999999", "-99999999999999999999", "1.5", "NaN", #""12""#][Int(g.next() % 7)]
    }

    static func randomText(_ g: inout SplitMix64, length: Int) -> String {
        let alphabet = Array(#"{}[]":,\ abcxyz019-_.é€😀"#)
        return String((0..<max(1, length)).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] })
    }
}

enum FuzzBody {
    static func make(_ g: inout SplitMix64, conversation: String) -> String {
        switch g.next() % 9 {
        case 0: return FuzzFrame.randomText(&g, length: Int(g.next() % 300))
        case 1: return #"{"handle":\#(FuzzFrame.wrongValue(&g)),"password":"correct horse battery"}"#
        case 2: return #"{"text":\#(FuzzFrame.wrongValue(&g)),"client_id":"c"}"#
        case 3: return #"{"seq":\#(FuzzFrame.hugeNumber(&g))}"#
        case 4:
            let depth = Int(g.next() % 20_000) + 1
            return String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        case 5: return #"{"kind":"group","title":\#(FuzzFrame.wrongValue(&g)),"members":\#(FuzzFrame.wrongValue(&g))}"#
        case 6: return String(decoding: [0xC3, 0x28, 0xFF, 0xFE] + Array("{\"a\":1}".utf8), as: UTF8.self)
        case 7: return ""
        default: return #"{"user_id":\#(FuzzFrame.wrongValue(&g))}"#
        }
    }
}
