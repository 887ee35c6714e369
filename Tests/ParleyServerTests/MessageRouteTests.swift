import Foundation
import HTTPTypes
import Testing

/// `/v1/conversations/{id}/messages` (history and send) and
/// `/v1/conversations/{id}/read`, against a live server.
@Suite("HTTP routes: messages and read marks", .timeLimit(.minutes(2)))
struct MessageRouteTests {
    // MARK: Helpers

    static let messageKeys: Set<String> = ["id", "conversation_id", "seq", "sender", "text", "ts", "client_id"]

    /// One history page as `user` sees it, checked for shape.
    func page(
        _ h: Harness, _ user: TestUser, _ conversation: String, _ query: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (messages: [JSON], hasMore: Bool?) {
        let reply = try await h.call(.get, "/v1/conversations/\(conversation)/messages?\(query)", token: user.token, sourceLocation: sourceLocation)
        #expect(reply.status == .ok, "history ?\(query): \(reply.raw)", sourceLocation: sourceLocation)
        #expect(reply.body.keys == ["messages", "has_more"], "history ?\(query): \(reply.raw.prefix(200))", sourceLocation: sourceLocation)
        return (reply.body["messages"].array, reply.body["has_more"].bool)
    }

    func seqs(_ messages: [JSON]) -> [Int] { messages.compactMap { $0["seq"].int } }

    /// Exact equality, scalar by scalar (Swift's `==` on strings would accept
    /// a normalised form).
    func sameText(_ json: JSON, _ text: String) -> Bool {
        guard let got = json.string else { return false }
        return Array(got.unicodeScalars) == Array(text.unicodeScalars)
    }

    // MARK: GET …/messages

    @Test("history windows after, before, since_ts and none return ascending pages with has_more at both ends")
    func historyWindows() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            for index in 1...10 {
                try await h.send(index.isMultiple(of: 3) ? bob : alice, conversation, "m\(index)", clientID: "c\(index)")
            }
            let cases: [(String, [Int], Bool)] = [
                ("after=0&limit=4", [1, 2, 3, 4], true),
                ("after=3&limit=4", [4, 5, 6, 7], true),
                ("after=6&limit=4", [7, 8, 9, 10], false),
                ("after=7&limit=4", [8, 9, 10], false),
                ("after=10", [], false),
                ("after=500&limit=5", [], false),
                ("after=0", Array(1...10), false),
                ("before=5&limit=2", [3, 4], true),
                ("before=3&limit=2", [1, 2], false),
                ("before=3&limit=5", [1, 2], false),
                ("before=1", [], false),
                ("before=11&limit=3", [8, 9, 10], true),
                ("before=999&limit=3", [8, 9, 10], true),
                ("limit=4", [7, 8, 9, 10], true),
                ("limit=10", Array(1...10), false),
                ("", Array(1...10), false),
            ]
            for (query, expected, hasMore) in cases {
                let (messages, more) = try await page(h, alice, conversation, query)
                #expect(seqs(messages) == expected, "?\(query)")
                #expect(more == hasMore, "?\(query): has_more")
                for message in messages {
                    #expect(message["conversation_id"].string == conversation)
                    #expect(message["text"].string == "m\(message["seq"].int ?? 0)")
                }
            }

            // since_ts: messages with ts >= T, oldest first. Several may share a ts.
            let all = try await page(h, alice, conversation, "after=0").messages
            let fifth = try #require(all[4]["ts"].int)
            let expected = seqs(all.filter { ($0["ts"].int ?? 0) >= fifth })
            #expect(expected.first ?? 0 <= 5 && expected.contains(5))
            let since = try await page(h, alice, conversation, "since_ts=\(fifth)")
            #expect(seqs(since.messages) == expected)
            #expect(since.hasMore == false)
            let sinceLimited = try await page(h, alice, conversation, "since_ts=\(fifth)&limit=2")
            #expect(seqs(sinceLimited.messages) == Array(expected.prefix(2)))
            #expect(sinceLimited.hasMore == (expected.count > 2))
            for query in ["since_ts=0", "since_ts=-5"] {
                let (messages, more) = try await page(h, alice, conversation, query)
                #expect(seqs(messages) == Array(1...10), "?\(query)")
                #expect(more == false)
            }
            let last = try #require(all.last?["ts"].int)
            let future = try await page(h, alice, conversation, "since_ts=\(last + 1)")
            #expect(future.messages.isEmpty)
            #expect(future.hasMore == false)
        }
    }

    @Test("history caps limit at 200 and defaults to the newest 50")
    func historyLimitCap() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            // 210 sends, 14 at a time, each on its own connection.
            for batch in stride(from: 1, through: 210, by: 14) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in batch..<min(batch + 14, 211) {
                        group.addTask { _ = try await h.freshConnection.send(alice, conversation, "n\(index)", clientID: "n\(index)") }
                    }
                    try await group.waitForAll()
                }
            }
            let cases: [(String, ClosedRange<Int>, Bool)] = [
                ("after=0&limit=1000", 1...200, true),
                ("after=0&limit=201", 1...200, true),
                ("after=0&limit=200", 1...200, true),
                ("after=200&limit=1000", 201...210, false),
                ("limit=500", 11...210, true),
                ("", 161...210, true),
                ("before=211&limit=300", 11...210, true),
                ("since_ts=0&limit=201", 1...200, true),
            ]
            for (query, range, hasMore) in cases {
                let (messages, more) = try await page(h, bob, conversation, query)
                #expect(seqs(messages) == Array(range), "?\(query)")
                #expect(more == hasMore, "?\(query): has_more")
            }
            // Every send is stored once, with seq 1…210 and no gap.
            let first = try await page(h, alice, conversation, "after=0&limit=200").messages
            let rest = try await page(h, alice, conversation, "after=200&limit=200").messages
            let everything = first + rest
            #expect(seqs(everything) == Array(1...210))
            #expect(Set(everything.compactMap { $0["client_id"].string }) == Set((1...210).map { "n\($0)" }))
            #expect(try await h.show(bob, conversation)["unread"].int == 210)
        }
    }

    @Test("history refuses two windows, non-integers and out-of-range values with 400, and non-members with 404")
    func historyErrors() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let conversation = try await h.direct(alice, bob)
            try await h.send(alice, conversation, "one")
            let queries = [
                "after=1&before=5", "after=1&since_ts=0", "before=2&since_ts=0", "after=0&before=2&since_ts=0",
                "after=abc", "before=x", "since_ts=1.5", "since_ts=yesterday", "limit=abc", "limit=", "after=", "after=1e3",
                "limit=0", "limit=-1", "before=0", "before=-3", "after=-1",
            ]
            for query in queries {
                expectError(
                    try await h.call(.get, "/v1/conversations/\(conversation)/messages?\(query)", token: alice.token),
                    .badRequest, "invalid_request", "?\(query)")
            }
            expectError(
                try await h.call(.get, "/v1/conversations/\(conversation)/messages?after=0", token: carol.token), .notFound, "not_found",
                "non-member")
            expectError(
                try await h.call(.get, "/v1/conversations/\(unknownOpaqueID())/messages", token: alice.token), .notFound, "not_found",
                "nonexistent")
            expectError(try await h.call(.get, "/v1/conversations/\(conversation)/messages"), .unauthorized, "unauthorized")
        }
    }

    @Test("client_id appears only on the reader's own messages in history")
    func historyClientID() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            try await h.send(alice, conversation, "a one", clientID: "a-1")
            try await h.send(bob, conversation, "b one", clientID: "b-1")
            try await h.send(alice, conversation, "a two", clientID: "a-2")
            let withoutClientID = Self.messageKeys.subtracting(["client_id"])
            for query in ["after=0", "", "before=4", "since_ts=0"] {
                let asAlice = try await page(h, alice, conversation, query).messages
                #expect(asAlice.map(\.keys) == [Self.messageKeys, withoutClientID, Self.messageKeys], "?\(query)")
                #expect(asAlice.map { $0["client_id"].string } == ["a-1", nil, "a-2"])
                let asBob = try await page(h, bob, conversation, query).messages
                #expect(asBob.map(\.keys) == [withoutClientID, Self.messageKeys, withoutClientID], "?\(query)")
                #expect(asBob.map { $0["client_id"].string } == [nil, "b-1", nil])
                // Otherwise the two views are the same messages.
                #expect(asAlice.map { $0["id"] } == asBob.map { $0["id"] })
                #expect(asAlice.map { $0["sender"]["id"].string } == [alice.id, bob.id, alice.id])
            }
        }
    }

    // MARK: POST …/messages

    @Test("sending answers 201 {message, duplicate:false} with the full message and consecutive seqs")
    func sendShape() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice", displayName: "Alice Liddell")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let before = nowMillis()
            let reply = try await h.call(
                .post, "/v1/conversations/\(conversation)/messages", token: alice.token, json: ["text": "Hello, Bob!", "client_id": "c-0001"])
            #expect(reply.status == .created)
            #expect(reply.body.keys == ["message", "duplicate"])
            #expect(reply.body["duplicate"] == .bool(false))
            let message = reply.body["message"]
            #expect(message.keys == Self.messageKeys)
            #expect(isOpaqueID(message["id"]))
            #expect(message["conversation_id"].string == conversation)
            #expect(message["seq"].int == 1)
            #expect(message["sender"] == .object(["id": .string(alice.id), "handle": .string("alice"), "display_name": .string("Alice Liddell")]))
            #expect(message["text"].string == "Hello, Bob!")
            #expect(message["client_id"].string == "c-0001")
            let ts = try #require(message["ts"].int)
            #expect(ts >= before && ts <= nowMillis())

            let second = try await h.send(bob, conversation, "Hi Alice", clientID: "c-0001")
            #expect(second["seq"].int == 2)
            #expect(second["id"] != message["id"])
            #expect((second["ts"].int ?? 0) >= ts)
            // What the sender got is what is stored.
            #expect(try await h.messages(alice, conversation).first == message)
        }
    }

    @Test("a retry with the same client_id answers 200 duplicate:true with the original message, stored once")
    func sendDuplicate() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let other = try await h.group(alice, title: "Other", members: [bob])
            let path = "/v1/conversations/\(conversation)/messages"
            let first = try await h.call(.post, path, token: alice.token, json: ["text": "original", "client_id": "x-1"])
            #expect(first.status == .created)
            for text in ["changed", "original"] {
                let retry = try await h.call(.post, path, token: alice.token, json: ["text": text, "client_id": "x-1"])
                #expect(retry.status == .ok)
                #expect(retry.body["duplicate"] == .bool(true))
                #expect(retry.body["message"] == first.body["message"], "the retry must answer with the original message")
                #expect(retry.body["message"]["text"].string == "original")
            }
            let stored = try await h.messages(alice, conversation)
            #expect(stored.count == 1)
            #expect(stored.first?["text"].string == "original")

            // The same client_id from someone else, or in another conversation, is a new message.
            let fromBob = try await h.call(.post, path, token: bob.token, json: ["text": "bob's", "client_id": "x-1"])
            #expect(fromBob.status == .created)
            #expect(fromBob.body["message"]["seq"].int == 2)
            let elsewhere = try await h.call(
                .post, "/v1/conversations/\(other)/messages", token: alice.token, json: ["text": "elsewhere", "client_id": "x-1"])
            #expect(elsewhere.status == .created)
            #expect(elsewhere.body["message"]["seq"].int == 1)
            // A duplicate takes no seq.
            #expect(try await h.send(alice, conversation, "next", clientID: "x-2")["seq"].int == 3)
            #expect(try await h.messages(bob, conversation).map { $0["text"].string } == ["original", "bob's", "next"])
        }
    }

    @Test("sending refuses bad text and client_id (400), text over 4000 characters (413), non-members (404); nothing refused is stored")
    func sendValidation() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let conversation = try await h.direct(alice, bob)
            let path = "/v1/conversations/\(conversation)/messages"
            var count = 0
            func nextClientID() -> String {
                count += 1
                return "v-\(count)"
            }

            let badRequests: [(String, [String: Any])] = [
                ("empty text", ["text": "", "client_id": nextClientID()]),
                ("whitespace text", ["text": "  \n\t\u{3000} ", "client_id": nextClientID()]),
                ("text missing", ["client_id": nextClientID()]),
                ("text null", ["text": NSNull(), "client_id": nextClientID()]),
                ("text not a string", ["text": 5, "client_id": nextClientID()]),
                ("client_id missing", ["text": "hello"]),
                ("client_id empty", ["text": "hello", "client_id": ""]),
                ("client_id null", ["text": "hello", "client_id": NSNull()]),
                ("client_id not a string", ["text": "hello", "client_id": 7]),
                ("client_id of 65 characters", ["text": "hello", "client_id": String(repeating: "c", count: 65)]),
            ]
            for (label, body) in badRequests {
                expectError(try await h.call(.post, path, token: alice.token, json: body), .badRequest, "invalid_request", label)
            }
            for raw in ["", "hello", "[\"hello\"]"] {
                expectError(try await h.call(.post, path, token: alice.token, rawBody: raw), .badRequest, "invalid_request", "body '\(raw)'")
            }
            let tooLong: [(String, String)] = [
                ("4001 ASCII characters", String(repeating: "a", count: 4001)),
                ("4001 two-byte characters", String(repeating: "é", count: 4001)),
                ("4001 emoji", String(repeating: "👍🏽", count: 4001)),
            ]
            for (label, text) in tooLong {
                let reply = try await h.call(.post, path, token: alice.token, json: ["text": text, "client_id": nextClientID()])
                expectError(reply, .contentTooLarge, "too_large", label)
            }
            let huge = #"{"client_id":"big","text":""# + String(repeating: "a", count: 70 * 1024) + #""}"#
            expectError(try await h.freshConnection.call(.post, path, token: alice.token, rawBody: huge), .contentTooLarge, "too_large", "body over 64 KiB")

            // Not a member, or no such conversation: 404, even with a good body.
            expectError(
                try await h.call(.post, path, token: carol.token, json: ["text": "let me in", "client_id": nextClientID()]),
                .notFound, "not_found", "non-member")
            expectError(
                try await h.call(
                    .post, "/v1/conversations/\(unknownOpaqueID())/messages", token: alice.token, json: ["text": "hi", "client_id": nextClientID()]),
                .notFound, "not_found", "nonexistent conversation")
            // The body is checked before membership (docs/PROTOCOL.md §3.3).
            expectError(
                try await h.call(.post, path, token: carol.token, json: ["text": " ", "client_id": nextClientID()]),
                .badRequest, "invalid_request", "non-member with an empty text")
            expectError(try await h.call(.post, path, json: ["text": "hi", "client_id": nextClientID()]), .unauthorized, "unauthorized")

            // The limit counts characters, not bytes or scalars.
            let accepted: [String] = [
                String(repeating: "a", count: 4000),
                String(repeating: "é", count: 4000),
                String(repeating: "e\u{301}", count: 4000),
                String(repeating: "👍🏽", count: 4000),
                String(repeating: "🇫🇷", count: 4000),
            ]
            for text in accepted {
                #expect(text.count == 4000)
                let reply = try await h.call(.post, path, token: alice.token, json: ["text": text, "client_id": nextClientID()])
                #expect(reply.status == .created, "\(text.utf8.count) bytes: \(reply.raw.prefix(200))")
                #expect(sameText(reply.body["message"]["text"], text))
            }
            let longID = String(repeating: "k", count: 63) + "é"
            let withLongID = try await h.call(.post, path, token: alice.token, json: ["text": "long id", "client_id": longID])
            #expect(withLongID.status == .created)
            #expect(withLongID.body["message"]["client_id"].string == longID)

            // Only the accepted messages are stored, with seq 1… and no gap.
            let stored = try await h.messages(bob, conversation)
            #expect(seqs(stored) == Array(1...6))
            #expect(zip(stored, accepted + ["long id"]).allSatisfy { sameText($0["text"], $1) })
            #expect(stored.count == accepted.count + 1)
        }
    }

    @Test("text with quotes, backslashes, newlines, control characters, emoji and markup round-trips exactly")
    func textRoundTrip() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let texts = [
                #"She said "hi" and left"#,
                #"back\slash, \\ two, \n not a newline, \u0041 not an A"#,
                "line one\nline two\r\nline three\ttabbed\n",
                "controls: \u{1}\u{8}\u{B}\u{C}\u{1B}\u{1F}\u{7F}\u{85}",
                "emoji: 😀👍🏽🇫🇷👨‍👩‍👧 and é versus e\u{301}",
                "<script>alert('x')</script> &amp; &lt; </textarea>",
                "  leading and trailing spaces  ",
                "\u{2028}separators\u{2029}",
                #"{"json": [1, 2], "nested": {"a": null}}"#,
                "slash / and </script> and \u{FEFF}BOM and \u{200B}zero width",
            ]
            for (index, text) in texts.enumerated() {
                let message = try await h.send(alice, conversation, text, clientID: "t-\(index)")
                #expect(sameText(message["text"], text), "sent \(text.debugDescription), got \(message["text"])")
            }
            for reader in [alice, bob] {
                let stored = try await h.messages(reader, conversation)
                #expect(stored.count == texts.count)
                for (message, text) in zip(stored, texts) {
                    #expect(sameText(message["text"], text), "stored \(message["text"]) for \(text.debugDescription)")
                }
            }
            // On the wire: markup and non-ASCII are sent as they are, newlines escaped.
            let raw = try await h.call(.get, "/v1/conversations/\(conversation)/messages?after=0", token: bob.token).raw
            #expect(raw.contains("<script>alert('x')</script>"))
            #expect(raw.contains("😀👍🏽🇫🇷"))
            #expect(raw.contains(#"line one\nline two\r\nline three\ttabbed"#))
            #expect(!raw.contains("\n"))
        }
    }

    // SQLite text ends at a NUL, so text or a client_id with U+0000 could not
    // be stored exactly (and two client_ids differing only after it would
    // collide). The server refuses them instead, and stores nothing.
    @Test("a NUL character in the text or the client_id is refused and nothing is stored")
    func nulRefused() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let path = "/v1/conversations/\(conversation)/messages"
            let badText = try await h.call(.post, path, token: alice.token, json: ["text": "before\u{0}after", "client_id": "nul-1"])
            #expect(badText.status == .badRequest)
            #expect(badText.body["error"]["code"].string == "invalid_request")
            let badClientID = try await h.call(.post, path, token: alice.token, json: ["text": "first", "client_id": "k\u{0}1"])
            #expect(badClientID.status == .badRequest)
            #expect(badClientID.body["error"]["code"].string == "invalid_request")
            #expect(try await h.messages(bob, conversation).isEmpty)
        }
    }

    // MARK: POST …/read

    @Test("the read mark answers 204, only moves forward, is clamped to last_seq and shows as read_seq and unread")
    func readMarks() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let path = "/v1/conversations/\(conversation)/read"
            for index in 1...3 { try await h.send(alice, conversation, "m\(index)") }

            /// [last_seq, read_seq, unread] as `user` sees them.
            func mark(_ user: TestUser) async throws -> [Int?] {
                let conversation = try await h.show(user, conversation)
                return [conversation["last_seq"].int, conversation["read_seq"].int, conversation["unread"].int]
            }
            #expect(try await mark(bob) == [3, 0, 3])
            #expect(try await mark(alice) == [3, 3, 0])

            let steps: [(Int, [Int?])] = [
                (2, [3, 2, 1]),
                (1, [3, 2, 1]),  // backwards: no change
                (0, [3, 2, 1]),
                (2, [3, 2, 1]),
                (999, [3, 3, 0]),  // clamped to last_seq
            ]
            for (seq, expected) in steps {
                expectNoContent(try await h.call(.post, path, token: bob.token, json: ["seq": seq]), "read \(seq)")
                #expect(try await mark(bob) == expected, "after read \(seq)")
            }
            // Alice's own mark was never touched by Bob's reads.
            #expect(try await mark(alice) == [3, 3, 0])

            // The clamp stored 3, not 999: a new message is unread.
            try await h.send(alice, conversation, "m4")
            #expect(try await mark(bob) == [4, 3, 1])
            try await h.send(bob, conversation, "m5")
            #expect(try await mark(bob) == [5, 5, 0])
            #expect(try await mark(alice) == [5, 4, 1])
            expectNoContent(try await h.call(.post, path, token: alice.token, json: ["seq": 5]))
            #expect(try await mark(alice) == [5, 5, 0])
            expectNoContent(try await h.call(.post, path, token: alice.token, json: ["seq": 1]))
            #expect(try await mark(alice) == [5, 5, 0])
        }
    }

    @Test("a read mark in an empty conversation is clamped to 0")
    func readEmptyConversation() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            expectNoContent(try await h.call(.post, "/v1/conversations/\(conversation)/read", token: bob.token, json: ["seq": 5]))
            #expect(try await h.show(bob, conversation)["read_seq"].int == 0)
            try await h.send(alice, conversation, "first")
            let after = try await h.show(bob, conversation)
            #expect(after["read_seq"].int == 0)
            #expect(after["unread"].int == 1)
        }
    }

    @Test("read refuses a negative, non-integer or missing seq with 400 and non-members with 404")
    func readErrors() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let conversation = try await h.direct(alice, bob)
            try await h.send(alice, conversation, "one")
            let path = "/v1/conversations/\(conversation)/read"
            let bad: [(String, [String: Any])] = [
                ("negative", ["seq": -1]),
                ("a string", ["seq": "1"]),
                ("a fraction", ["seq": 1.5]),
                ("a boolean", ["seq": true]),
                ("null", ["seq": NSNull()]),
                ("missing", [:]),
                ("missing, another field given", ["read": 1]),
            ]
            for (label, body) in bad {
                expectError(try await h.call(.post, path, token: bob.token, json: body), .badRequest, "invalid_request", "seq \(label)")
            }
            for raw in ["", "1", "nonsense"] {
                expectError(try await h.call(.post, path, token: bob.token, rawBody: raw), .badRequest, "invalid_request", "body '\(raw)'")
            }
            expectError(try await h.call(.post, path, token: carol.token, json: ["seq": 1]), .notFound, "not_found", "non-member")
            expectError(
                try await h.call(.post, "/v1/conversations/\(unknownOpaqueID())/read", token: bob.token, json: ["seq": 1]),
                .notFound, "not_found", "nonexistent")
            expectError(try await h.call(.post, path, json: ["seq": 1]), .unauthorized, "unauthorized")
            #expect(try await h.show(bob, conversation)["read_seq"].int == 0)
        }
    }

    @Test("the sender's own messages never count as unread for them")
    func ownMessagesAreRead() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let group = try await h.group(alice, members: [bob])
            for index in 1...3 { try await h.send(bob, group, "b\(index)") }
            let asBob = try await h.show(bob, group)
            #expect(asBob["read_seq"].int == 3)
            #expect(asBob["unread"].int == 0)
            let asAlice = try await h.show(alice, group)
            #expect(asAlice["read_seq"].int == 0)
            #expect(asAlice["unread"].int == 3)

            // Alice replies without reading: her mark jumps to her message.
            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/read", token: alice.token, json: ["seq": 1]))
            try await h.send(alice, group, "a1")
            let replied = try await h.show(alice, group)
            #expect(replied["read_seq"].int == 4)
            #expect(replied["unread"].int == 0)
            let bobNow = try await h.show(bob, group)
            #expect(bobNow["read_seq"].int == 3)
            #expect(bobNow["unread"].int == 1)
            let listed = try await h.call(.get, "/v1/conversations", token: bob.token).body["conversations"][0]
            #expect(listed["unread"].int == 1)
        }
    }
}
