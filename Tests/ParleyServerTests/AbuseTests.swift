import Foundation
import HTTPTypes
import ParleyCore
import ParleyServer
import ParleyStore
import Testing

/// Abuse controls over real sockets and HTTP against a live server: send and
/// request rate limits, strikes (4429), bans (4403 and 403, stored),
/// content rules, protocol misuse (4400), frame and body sizes (1009, 413),
/// sessions per user (1008) and login throttling. `TestDatabase` turns the
/// limits off; each test here turns on the ones it is about.
@Suite("Abuse controls", .timeLimit(.minutes(2)))
struct AbuseTests {
    // MARK: Send rate

    @Test("sends over the per-user rate are refused with rate_limited and retry_after_ms, and neither stored nor delivered")
    func sendRateOverSocket() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.sendRate = 0.02  // a token per 50 s: a slow machine cannot refill one mid-test
        database.configuration.abuse.sendBurst = 3
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (bobSocket, _) = try await h.socket(bob)
            let (socket, _) = try await h.socket(alice)

            for n in 1...3 {
                try await socket.sendMessage(id: "s\(n)", conversation, "message \(n)")
                let ack = try await socket.next(type: "ack")
                #expect(ack["re"].string == "s\(n)")
                #expect(ack["seq"].int == n)
            }
            try await socket.sendMessage(id: "s4", conversation, "message 4")
            let refusal = try await socket.next(type: "error")
            expectRateLimited(refusal, re: "s4", atMost: 50_000)

            for n in 1...3 {
                #expect(try await bobSocket.next(type: "message")["message"]["text"].string == "message \(n)")
            }
            await bobSocket.expectSilence()
            #expect(try await h.messages(bob, conversation).compactMap { $0["text"].string } == ["message 1", "message 2", "message 3"])
            await socket.close()
            await bobSocket.close()
        }
    }

    @Test("the send limit is shared by all of a user's sockets and the HTTP send route (429 with Retry-After), and is per user")
    func sendRateShared() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.sendRate = 0.02  // a token per 50 s: a slow machine cannot refill one mid-test
        database.configuration.abuse.sendBurst = 2
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (socket1, _) = try await h.socket(alice)
            let (socket2, _) = try await h.socket(alice)

            try await socket1.sendMessage(id: "a", conversation, "one")
            #expect(try await socket1.reply(to: "a")["type"].string == "ack")
            try await socket2.sendMessage(id: "b", conversation, "two")
            #expect(try await socket2.reply(to: "b")["type"].string == "ack")

            // The burst is spent: HTTP is refused too.
            let http = try await h.request(
                .post, "/v1/conversations/\(conversation)/messages", token: alice.token, json: ["text": "three", "client_id": "c-3"])
            expectRateLimitedReply(http, atMost: 50_000)

            // And both sockets.
            try await socket1.sendMessage(id: "c", conversation, "four")
            expectRateLimited(try await socket1.reply(to: "c"), re: "c", atMost: 50_000)
            try await socket2.sendMessage(id: "d", conversation, "five")
            expectRateLimited(try await socket2.reply(to: "d"), re: "d", atMost: 50_000)

            // Another user has a bucket of their own.
            try await h.send(bob, conversation, "from bob")
            #expect(try await h.messages(bob, conversation).compactMap { $0["text"].string } == ["one", "two", "from bob"])
            await socket1.close()
            await socket2.close()
        }
    }

    @Test("sends missing a field are answered invalid_request and still count against the send rate, over the socket and HTTP")
    func malformedSendsCount() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.sendRate = 0.02  // a token per 50 s: a slow machine cannot refill one mid-test
        database.configuration.abuse.sendBurst = 2
        try await Harness.live(database.configuration) { h in
            let (alice, _, conversation) = try await h.pair()
            let (socket, _) = try await h.socket(alice)
            try await socket.send(["type": "send", "id": "no-text", "conversation_id": conversation, "client_id": "k1"])
            let missing = try await socket.reply(to: "no-text")
            #expect(missing["code"].string == "invalid_request" && missing["message"].string == "text is required", "\(missing)")
            let http = try await h.request(
                .post, "/v1/conversations/\(conversation)/messages", token: alice.token, json: ["text": "no client id"])
            #expect(http.status == .badRequest)
            #expect(http.body["error"]["message"].string == "client_id is required", "\(http.raw)")

            // Both spent the burst: a well-formed send is refused now, and so is another bad one.
            try await socket.sendMessage(id: "good", conversation, "hello")
            expectRateLimited(try await socket.reply(to: "good"), re: "good", atMost: 50_000)
            try await socket.send(["type": "send", "id": "still-bad", "client_id": "k2"])
            expectRateLimited(try await socket.reply(to: "still-bad"), re: "still-bad", atMost: 50_000)
            #expect(try await h.messages(alice, conversation).isEmpty)
            await socket.close()
        }
    }

    @Test("retry_after_ms says when the next send is admitted")
    func retryAfterIsHonest() async throws {
        var database = try await TestDatabase()
        // A token every 2 s: long enough that the second send is refused on a busy machine.
        database.configuration.abuse.sendRate = 0.5
        database.configuration.abuse.sendBurst = 1
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (socket, _) = try await h.socket(alice)
            try await socket.sendMessage(id: "1", conversation, "first")
            _ = try await socket.next(type: "ack")
            try await socket.sendMessage(id: "2", conversation, "too soon")
            let refusal = try await socket.next(type: "error")
            expectRateLimited(refusal, re: "2", atMost: 2000)
            let wait = refusal["retry_after_ms"].int ?? 2000
            try await Task.sleep(for: .milliseconds(wait + 20))
            try await socket.sendMessage(id: "3", conversation, "on time")
            let ack = try await socket.next(type: "ack")
            #expect(ack["re"].string == "3")
            #expect(try await h.messages(alice, conversation).compactMap { $0["text"].string } == ["first", "on time"])
            await socket.close()
        }
    }

    @Test("a send rate of 0 turns the limit off (and links are allowed by default)")
    func sendRateZeroIsOff() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.sendRate = 0
        database.configuration.abuse.sendBurst = 1
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (socket, _) = try await h.socket(alice)
            for n in 1...15 {
                try await socket.sendMessage(id: "s\(n)", conversation, "ws \(n) https://example.com")
            }
            for n in 1...15 {
                #expect(try await socket.next(type: "ack")["re"].string == "s\(n)")
            }
            for n in 1...15 {
                try await h.send(alice, conversation, "http \(n)")
            }
            #expect(try await h.messages(alice, conversation).count == 30)
            await socket.close()
        }
    }

    // MARK: Request rate

    @Test("every other frame type takes from a per-socket bucket: over it, rate_limited (typing: dropped silently); sends are not affected")
    func requestRate() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.requestRate = 0.005  // a token per 200 s
        database.configuration.abuse.requestBurst = 3
        database.configuration.abuse.floodStrikes = 100
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            try await h.send(bob, conversation, "hello alice")
            let (bobSocket, _) = try await h.socket(bob)
            let (alice1, _) = try await h.socket(alice)
            let (alice2, _) = try await h.socket(alice)

            for n in 1...3 {
                try await alice1.send(["type": "ping", "id": "p\(n)"])
                #expect(try await alice1.next(type: "pong")["re"].string == "p\(n)")
            }
            let refused: [[String: Any]] = [
                ["type": "history", "id": "h", "conversation_id": conversation, "after": 0],
                ["type": "read", "id": "r", "conversation_id": conversation, "seq": 1],
                ["type": "presence", "id": "q", "user_ids": [bob.id]],
                ["type": "ping", "id": "p4"],
            ]
            for frame in refused {
                try await alice1.send(frame)
                expectRateLimited(try await alice1.next(type: "error"), re: frame["id"] as? String, atMost: 200_000)
            }
            // Typing over the limit: no error, and not relayed.
            try await alice1.send(["type": "typing", "id": "t", "conversation_id": conversation])
            await alice1.expectSilence()
            await bobSocket.expectSilence()
            // The bucket is the socket's: the other one still types.
            try await alice2.send(["type": "typing", "conversation_id": conversation])
            #expect(try await bobSocket.next(type: "typing") == typingEvent(conversation, alice))
            // The read above was refused: bob got no receipt, the mark did not move.
            #expect(try await h.show(alice, conversation)["read_seq"].int ?? 0 == 0)

            // Sends have their own limit (off here).
            try await alice1.sendMessage(id: "s", conversation, "still sending")
            #expect(try await alice1.next(type: "ack")["re"].string == "s")
            #expect(try await bobSocket.next(type: "message")["message"]["text"].string == "still sending")
            #expect(try await alice2.next(type: "message")["message"]["text"].string == "still sending")
            try await alice2.expectAlive()
            for socket in [alice1, alice2, bobSocket] { await socket.close() }
        }
    }

    // MARK: Strikes

    @Test("more than floodStrikes refused sends within the window close the socket with 4429; the user's other sockets stay")
    func sendStrikes() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.sendRate = 0.01
        database.configuration.abuse.sendBurst = 1
        database.configuration.abuse.floodStrikes = 3
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (bobSocket, _) = try await h.socket(bob)
            let (other, _) = try await h.socket(alice)
            let (flooder, _) = try await h.socket(alice)

            try await flooder.sendMessage(id: "ok", conversation, "the only one")
            #expect(try await flooder.next(type: "ack")["re"].string == "ok")
            for n in 1...3 {
                try await flooder.sendMessage(id: "x\(n)", conversation, "flood \(n)")
                expectRateLimited(try await flooder.next(type: "error"), re: "x\(n)", atMost: 100_000)
            }
            // Exactly floodStrikes strikes: still open.
            try await flooder.expectAlive()
            try await flooder.sendMessage(id: "x4", conversation, "flood 4")
            let closed = try await flooder.closed()
            #expect(closed.code == 4429, "closed: \(closed)")
            #expect(closed.framesBefore.count <= 1 && closed.framesBefore.allSatisfy { $0["type"].string == "error" && $0["code"].string == "rate_limited" }, "\(closed.framesBefore)")

            // One flood is not a ban.
            #expect(try await other.next(type: "message")["message"]["text"].string == "the only one")
            try await other.expectAlive()
            #expect(try await h.call(.get, "/v1/me", token: alice.token).status == .ok)
            #expect(try await bobSocket.next(type: "message")["message"]["text"].string == "the only one")
            await bobSocket.expectSilence()
            #expect(try await h.messages(bob, conversation).compactMap { $0["text"].string } == ["the only one"])
            await other.close()
            await bobSocket.close()
        }
    }

    @Test("no frame type is free to flood: refused typing frames count as strikes, silently, up to 4429")
    func typingStrikes() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.requestRate = 0.01
        database.configuration.abuse.requestBurst = 1
        database.configuration.abuse.floodStrikes = 2
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (socket, _) = try await h.socket(alice)
            try await socket.send(["type": "ping", "id": "p"])
            #expect(try await socket.next(type: "pong")["re"].string == "p")
            for _ in 1...2 {
                try await socket.send(["type": "typing", "conversation_id": conversation])
            }
            await socket.expectSilence()
            try await socket.send(["type": "typing", "conversation_id": conversation])
            let closed = try await socket.closed()
            #expect(closed.code == 4429, "closed: \(closed)")
            #expect(closed.framesBefore.isEmpty, "typing is refused silently: \(closed.framesBefore)")
        }
    }

    // MARK: Bans

    @Test("a user closed for flooding floodsBeforeBan times is banned: other sockets 4403, new sockets 4403, HTTP 403; stored; survives a restart")
    func ban() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.sendRate = 0.001
        database.configuration.abuse.sendBurst = 1
        database.configuration.abuse.floodStrikes = 1
        database.configuration.abuse.floodsBeforeBan = 3
        database.configuration.abuse.banDuration = .seconds(600)
        let configuration = database.configuration
        let (alice, bob, conversation, bannedAt) = try await Harness.live(configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (bystander, _) = try await h.socket(alice)

            for flood in 1...2 {
                #expect(try await h.flood(alice, conversation) == 4429, "flood \(flood)")
            }
            // Two floods: not banned yet.
            #expect(try await bystander.next(type: "message")["message"]["text"].string == "flood 1")
            try await bystander.expectAlive()
            #expect(try await h.call(.get, "/v1/me", token: alice.token).status == .ok)

            let bannedAt = nowMillis()
            #expect(try await h.flood(alice, conversation) == 4429, "flood 3")
            let closed = try await bystander.closed()
            #expect(closed.code == 4403, "the bystander: \(closed)")
            #expect(closed.reason?.hasPrefix("banned") == true, "reason: \(closed.reason ?? "none")")

            try await h.expectBanned(alice, conversation)
            // A fresh token does not help: the ban is the user's.
            let login = try await h.request(.post, "/v1/tokens", json: ["handle": "alice", "password": "correct horse battery"])
            if login.status == .ok, let token = login.body["token"].string {
                expectError(try await h.call(.get, "/v1/me", token: token), .forbidden, "forbidden", "a fresh token:")
            }
            // Others are not affected.
            try await h.expectNotBanned(bob)
            try await h.send(bob, conversation, "bob is fine")
            #expect(try await h.messages(bob, conversation).compactMap { $0["text"].string } == ["flood 1", "bob is fine"])
            return (alice, bob, conversation, bannedAt)
        }

        // Stored in the database, for banDuration.
        let store = try SQLiteChatStore(path: configuration.databasePath)
        let bans = try await store.activeBans(at: Millis(nowMillis()))
        try await store.close()
        #expect(bans.count == 1, "bans: \(bans)")
        if let until = bans.values.first {
            #expect(until >= Millis(bannedAt) + 600_000 && until <= Millis(nowMillis()) + 600_000, "until \(until), banned at \(bannedAt)")
        }

        // And in force after a restart.
        try await Harness.live(configuration) { h in
            try await h.expectBanned(alice, conversation)
            try await h.expectNotBanned(bob)
        }
    }

    @Test("floods spread wider than banWindow do not ban; a ban ends after banDuration")
    func banWindowAndExpiry() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.sendRate = 0.001
        database.configuration.abuse.sendBurst = 1
        database.configuration.abuse.floodStrikes = 1
        database.configuration.abuse.floodsBeforeBan = 3
        // Wide enough for three floods on a busy machine.
        database.configuration.abuse.banWindow = .seconds(5)
        database.configuration.abuse.banDuration = .milliseconds(1500)
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()

            #expect(try await h.flood(alice, conversation) == 4429)
            #expect(try await h.flood(alice, conversation) == 4429)
            try await Task.sleep(for: .milliseconds(5200))
            let third = ContinuousClock.now
            #expect(try await h.flood(alice, conversation) == 4429)
            // Only one flood within the window. (A ban would be stored and in
            // force a moment after the close: give it that moment.)
            try await Task.sleep(for: .milliseconds(200))
            try await h.expectNotBanned(alice)

            #expect(try await h.flood(alice, conversation) == 4429)
            #expect(try await h.flood(alice, conversation) == 4429)
            // Three within the window now. The ban is stored before it takes
            // effect, after the third close: wait for it.
            let deadline = ContinuousClock.now + .seconds(1)
            var status = try await h.call(.get, "/v1/me", token: alice.token).status
            while status == .ok, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                status = try await h.call(.get, "/v1/me", token: alice.token).status
            }
            let bannedSeen = ContinuousClock.now
            #expect(status == .forbidden, "floods 3 to 5 took \(bannedSeen - third) (the window is 5 s)")
            let refusal = try await RawWebSocket.refusal(port: h.port, headers: [("Authorization", "Bearer \(alice.token)")])
            #expect(refusal.closeCode == 4403, "refusal: \(refusal)")

            try await Task.sleep(until: bannedSeen + .milliseconds(1600))
            try await h.expectNotBanned(alice)
        }
    }

    // MARK: Content

    @Test("length counts characters, not bytes: maxMessageChars of them pass, one more is too_large (HTTP 413)")
    func lengthInCharacters() async throws {
        var database = try await TestDatabase()
        database.configuration.limits.maxMessageChars = 10
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (bobSocket, _) = try await h.socket(bob)
            let (socket, _) = try await h.socket(alice)
            let cases: [(String, String?)] = [
                (String(repeating: "😀", count: 10), nil),  // 40 bytes
                (String(repeating: "a", count: 10), nil),
                (String(repeating: "é", count: 10), nil),  // 20 bytes
                (String(repeating: "👩‍👩‍👧‍👦", count: 10), nil),  // 10 characters of 7 scalars each
                (String(repeating: "a", count: 11), "too_large"),
                (String(repeating: "😀", count: 11), "too_large"),
            ]
            let accepted = try await h.checkContent(cases, from: alice, socket: socket, in: conversation)
            try await h.expectDelivered(accepted, to: bobSocket, viewer: bob, in: conversation)
            await socket.close()
            await bobSocket.close()
        }
    }

    @Test("empty text is invalid_request; banned words (whole words, any case) and, with links denied, URLs are content_rejected (HTTP 422); none stored or delivered")
    func contentRules() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.content = ContentPolicy(bannedWords: ["spam", "Scam"], links: .deny)
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (bobSocket, _) = try await h.socket(bob)
            let (socket, _) = try await h.socket(alice)
            let cases: [(String, String?)] = [
                ("hello there", nil),
                ("", "invalid_request"),
                ("   \n\t  ", "invalid_request"),
                ("Spam!", "content_rejected"),
                ("buy SPAM now", "content_rejected"),
                ("no scam, honest", "content_rejected"),
                ("spammer", nil),
                ("scampi for dinner", nil),
                ("https://parley.test/x", "content_rejected"),
                ("go to www.parley", "content_rejected"),
                ("visit example.com today", "content_rejected"),
                ("write to mailto:bob", "content_rejected"),
                ("see file.txt", nil),
                ("Awww. so cute", nil),
                ("version 1.2", nil),
            ]
            let accepted = try await h.checkContent(cases, from: alice, socket: socket, in: conversation)
            #expect(accepted.count == 12)
            try await h.expectDelivered(accepted, to: bobSocket, viewer: bob, in: conversation)
            await socket.close()
            await bobSocket.close()
        }
    }

    // MARK: Protocol misuse

    @Test("unparseable, binary and unknown frames are answered invalid_request; more than protocolWarnings close with 4400")
    func protocolMisuse() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.protocolWarnings = 10
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let (other, _) = try await h.socket(alice)
            let (socket, _) = try await h.socket(alice)
            for n in 0..<10 {
                switch n % 3 {
                case 0:
                    try await socket.sendText("not json \(n)")
                    let error = try await socket.next(type: "error")
                    #expect(error["code"].string == "invalid_request", "\(error)")
                case 1:
                    try await socket.sendBinary([0x7B, 0xFF, 0x00, UInt8(n)])
                    let error = try await socket.next(type: "error")
                    #expect(error["code"].string == "invalid_request", "\(error)")
                default:
                    try await socket.send(["type": "dance", "id": "u\(n)"])
                    let error = try await socket.next(type: "error")
                    #expect(error["code"].string == "invalid_request", "\(error)")
                    #expect(error["re"].string == "u\(n)")
                }
            }
            // Exactly protocolWarnings: still open.
            try await socket.expectAlive()
            try await socket.sendText("{")
            let closed = try await socket.closed()
            #expect(closed.code == 4400, "closed: \(closed)")
            // The socket's, not the user's: no ban, the other socket stays.
            try await other.expectAlive()
            #expect(try await h.call(.get, "/v1/me", token: alice.token).status == .ok)
            await other.close()
        }
    }

    // MARK: Sizes

    @Test("a frame over maxFrameBytes closes the socket with 1009; one under it is served")
    func oversizedFrame() async throws {
        var database = try await TestDatabase()
        database.configuration.maxFrameBytes = 2048
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let (bobSocket, _) = try await h.socket(bob)
            let (socket, _) = try await h.socket(alice)
            let fits = String(repeating: "a", count: 1900)
            try await socket.sendMessage(id: "fits", conversation, fits)
            #expect(try await socket.next(type: "ack")["re"].string == "fits")

            let big = #"{"type":"send","id":"big","conversation_id":"\#(conversation)","client_id":"c-big","text":""#
                + String(repeating: "b", count: 3000 - 100 - conversation.count) + #""}"#
            #expect(big.utf8.count > 2048 && big.utf8.count <= 3000)
            try await socket.sendText(big)
            let closed = try await socket.closed()
            #expect(closed.code == 1009, "closed: \(closed)")
            #expect(closed.framesBefore.isEmpty, "\(closed.framesBefore)")

            #expect(try await bobSocket.next(type: "message")["message"]["text"].string == fits)
            await bobSocket.expectSilence()
            #expect(try await h.messages(bob, conversation).count == 1)
            await bobSocket.close()
        }
    }

    @Test("an HTTP body over maxFrameBytes answers 413 too_large; exactly maxFrameBytes is served")
    func oversizedBody() async throws {
        var database = try await TestDatabase()
        database.configuration.maxFrameBytes = 2048
        try await Harness.live(database.configuration) { h in
            let (alice, bob, conversation) = try await h.pair()
            let path = "/v1/conversations/\(conversation)/messages"
            func body(bytes: Int, clientID: String) -> String {
                let head = #"{"client_id":"\#(clientID)","text":""#
                return head + String(repeating: "x", count: bytes - head.utf8.count - 2) + #""}"#
            }
            let json: HTTPFields = [.contentType: "application/json"]

            let over = body(bytes: 2049, clientID: "c-over")
            #expect(over.utf8.count == 2049)
            expectError(
                try await h.freshConnection.call(.post, path, token: alice.token, rawBody: over, headers: json), .contentTooLarge,
                "too_large")
            let huge = body(bytes: 3000, clientID: "c-huge")
            expectError(
                try await h.freshConnection.call(.post, path, token: alice.token, rawBody: huge, headers: json), .contentTooLarge,
                "too_large")
            // Public routes too.
            let signUp = #"{"handle":"carol","password":"correct horse battery","display_name":""#
                + String(repeating: "c", count: 3000) + #""}"#
            expectError(try await h.freshConnection.call(.post, "/v1/accounts", rawBody: signUp, headers: json), .contentTooLarge, "too_large")

            let exact = body(bytes: 2048, clientID: "c-exact")
            #expect(exact.utf8.count == 2048)
            let reply = try await h.freshConnection.call(.post, path, token: alice.token, rawBody: exact, headers: json)
            #expect(reply.status == .created, "\(reply.status) \(reply.raw.prefix(200))")
            #expect(try await h.messages(alice, conversation).map { $0["client_id"].string ?? "-" } == ["c-exact"])
        }
    }

    // MARK: Sessions

    @Test("the (N+1)th socket of a user is closed with 1008 and a clear reason; after one closes, a new one is accepted")
    func sessionsPerUser() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.maxSessionsPerUser = 2
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let (first, _) = try await h.socket(alice)
            let (second, _) = try await h.socket(alice)

            let refusal = try await RawWebSocket.refusal(port: h.port, headers: [("Authorization", "Bearer \(alice.token)")])
            #expect(refusal.status == 101)
            #expect(refusal.closeCode == 1008, "\(refusal)")
            #expect(refusal.closeReason == "too many sessions: at most 2 per user", "\(refusal)")
            // Authenticating by frame counts the same.
            let byFrame = try await TestSocket.connect(port: h.port)
            try await byFrame.send(["type": "auth", "token": alice.token])
            let closedByFrame = try await byFrame.closed()
            #expect(closedByFrame.code == 1008, "\(closedByFrame)")
            #expect(closedByFrame.reason == "too many sessions: at most 2 per user", "\(closedByFrame)")
            #expect(closedByFrame.framesBefore.isEmpty, "no ready before the refusal: \(closedByFrame.framesBefore)")

            try await first.expectAlive()
            try await second.expectAlive()
            // Another user is not affected.
            let (bobSocket, _) = try await h.socket(bob)

            await first.close()
            // The server lets go of the closed session right after the
            // closing handshake: retry briefly until it has.
            let deadline = ContinuousClock.now + .seconds(3)
            var accepted: AbuseRawSocket?
            while accepted == nil, ContinuousClock.now < deadline {
                let attempt = try await AbuseRawSocket.open(port: h.port, token: alice.token, answerPings: true)
                switch try await attempt.firstFrame() {
                case .text(let text) where (try? JSON.parse(text)["type"].string) == "ready":
                    accepted = attempt
                case .close(let code, _):
                    #expect(code == 1008)
                    await attempt.drop()
                    try await Task.sleep(for: .milliseconds(50))
                case let other:
                    await attempt.drop()
                    throw TestFailure("unexpected \(other)")
                }
            }
            #expect(accepted != nil, "no new socket accepted after one closed")
            // Two again: the next one is refused.
            let again = try await RawWebSocket.refusal(port: h.port, headers: [("Authorization", "Bearer \(alice.token)")])
            #expect(again.closeCode == 1008, "\(again)")
            try await second.expectAlive()
            await accepted?.drop()
            await second.close()
            await bobSocket.close()
        }
    }

    // MARK: Login throttling

    @Test("after loginFailures failed logins for a handle, from any address, the next try is 429 even with the right password; an unknown handle answers the same")
    func loginThrottleByHandle() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.loginFailures = 3
        try await Harness.live(database.configuration) { h in
            _ = try await h.signUp("alice")
            _ = try await h.signUp("bob")
            let right = "correct horse battery"
            // Each failure from another address, so only the handle's count can trip.
            var address = 1
            func from() -> String {
                address += 1
                return "127.0.0.\(address)"
            }
            for n in 1...3 {
                let reply = try await AbuseHTTP.post(port: h.port, path: "/v1/tokens", json: ["handle": "alice", "password": "wrong \(n)"], from: from())
                #expect(reply.status == 401, "failure \(n): \(reply.status) \(reply.raw)")
                #expect(reply.body["error"]["code"].string == "unauthorized")
            }
            let known = try await AbuseHTTP.post(port: h.port, path: "/v1/tokens", json: ["handle": "alice", "password": right], from: from())
            expectRateLimitedReply(known, atMost: 300_000)

            for n in 1...3 {
                let reply = try await AbuseHTTP.post(port: h.port, path: "/v1/tokens", json: ["handle": "nobody", "password": "wrong \(n)"], from: from())
                #expect(reply.status == 401, "failure \(n): \(reply.status) \(reply.raw)")
                #expect(reply.body["error"]["code"].string == "unauthorized")
            }
            let unknown = try await AbuseHTTP.post(port: h.port, path: "/v1/tokens", json: ["handle": "nobody", "password": right], from: from())
            expectRateLimitedReply(unknown, atMost: 300_000)
            // Nothing tells the two apart but the time to wait.
            #expect(unknown.body["error"]["message"] == known.body["error"]["message"])
            #expect(unknown.body["error"].keys == known.body["error"].keys)

            // Another handle is not throttled.
            let other = try await AbuseHTTP.post(port: h.port, path: "/v1/tokens", json: ["handle": "bob", "password": right], from: from())
            #expect(other.status == 200, "\(other.status) \(other.raw)")
        }
    }

    @Test("failed logins spread over handles from one address are counted together; another address is not throttled")
    func loginThrottleByAddress() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.loginFailures = 3
        try await Harness.live(database.configuration) { h in
            _ = try await h.signUp("alice")
            for handle in ["alice", "bob", "carol"] {
                let reply = try await h.call(.post, "/v1/tokens", json: ["handle": handle, "password": "wrong password"])
                expectError(reply, .unauthorized, "unauthorized", handle)
            }
            let throttled = try await h.request(.post, "/v1/tokens", json: ["handle": "alice", "password": "correct horse battery"])
            expectRateLimitedReply(throttled, atMost: 300_000)
            let fresh = try await h.request(.post, "/v1/tokens", json: ["handle": "dave", "password": "whatever it is"])
            expectRateLimitedReply(fresh, atMost: 300_000)

            // From another address (alice's handle has one failure only).
            let elsewhere = try await AbuseHTTP.post(
                port: h.port, path: "/v1/tokens", json: ["handle": "alice", "password": "correct horse battery"], from: "127.0.0.2")
            #expect(elsewhere.status == 200, "\(elsewhere.status) \(elsewhere.raw)")
        }
    }

    @Test("a throttled login is admitted again once the oldest failure leaves loginWindow")
    func loginThrottleWindow() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.loginFailures = 3
        database.configuration.abuse.loginWindow = .seconds(3)
        try await Harness.live(database.configuration) { h in
            _ = try await h.signUp("alice")
            for _ in 1...3 {
                expectError(
                    try await h.call(.post, "/v1/tokens", json: ["handle": "alice", "password": "wrong password"]), .unauthorized,
                    "unauthorized")
            }
            let throttled = try await h.request(.post, "/v1/tokens", json: ["handle": "alice", "password": "correct horse battery"])
            expectRateLimitedReply(throttled, atMost: 3000)
            let wait = throttled.body["error"]["retry_after_ms"].int ?? 3000
            try await Task.sleep(for: .milliseconds(wait + 50))
            _ = try await h.logIn("alice")
        }
    }

    // MARK: The command

    @Test("parley serve: --links refuses a bad value with a message; --links deny and --send-rate/--send-burst take effect")
    func serveFlags() async throws {
        let database = try await TestDatabase()
        let path = database.configuration.databasePath
        let refused = try await runParley(["serve", "--database", path, "--links", "maybe"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("links must be 'allow' or 'deny'"), "output: \(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: path), "nothing started")

        let server = try await ServerProcess.start(
            database: path, arguments: ["--links", "deny", "--send-rate", "0.01", "--send-burst", "2"])
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let (alice, bob, conversation) = try await h.pair()
        let messages = "/v1/conversations/\(conversation)/messages"
        expectError(
            try await h.call(.post, messages, token: alice.token, json: ["text": "visit example.com", "client_id": "a-1"]),
            .unprocessableContent, "content_rejected")
        for n in 1...2 {
            try await h.send(bob, conversation, "bob \(n)")
        }
        let third = try await h.request(.post, messages, token: bob.token, json: ["text": "bob 3", "client_id": "b-3"])
        expectRateLimitedReply(third, atMost: 100_000)
        #expect(try await h.messages(bob, conversation).compactMap { $0["text"].string } == ["bob 1", "bob 2"])
    }
}

// MARK: - Helpers

/// A WebSocket `error` frame for a refused rate: `re`, the code, and a wait
/// between 1 ms and `atMost`.
func expectRateLimited(_ frame: JSON, re: String?, atMost: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(frame["type"].string == "error", "\(frame)", sourceLocation: sourceLocation)
    #expect(frame["re"].string == re, "\(frame)", sourceLocation: sourceLocation)
    #expect(frame["code"].string == "rate_limited", "\(frame)", sourceLocation: sourceLocation)
    let wait = frame["retry_after_ms"].int ?? 0
    #expect(wait > 0 && wait <= atMost, "retry_after_ms: \(frame)", sourceLocation: sourceLocation)
}

/// 429 `{"error":{"code":"rate_limited","message":…,"retry_after_ms":…}}`
/// with `Retry-After` in whole seconds, rounded up.
func expectRateLimitedReply(_ reply: Harness.Reply, atMost: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == .tooManyRequests, "\(reply.status.code) \(reply.raw)", sourceLocation: sourceLocation)
    expectRateLimitedBody(reply.body, raw: reply.raw, retryAfter: reply.headers[.retryAfter], atMost: atMost, sourceLocation: sourceLocation)
}

func expectRateLimitedReply(_ reply: AbuseHTTP.Reply, atMost: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == 429, "\(reply.status) \(reply.raw)", sourceLocation: sourceLocation)
    expectRateLimitedBody(reply.body, raw: reply.raw, retryAfter: reply.headers["retry-after"], atMost: atMost, sourceLocation: sourceLocation)
}

private func expectRateLimitedBody(_ body: JSON, raw: String, retryAfter: String?, atMost: Int, sourceLocation: SourceLocation) {
    #expect(body.keys == ["error"], "\(raw)", sourceLocation: sourceLocation)
    #expect(body["error"].keys == ["code", "message", "retry_after_ms"], "\(raw)", sourceLocation: sourceLocation)
    #expect(body["error"]["code"].string == "rate_limited", "\(raw)", sourceLocation: sourceLocation)
    #expect(!(body["error"]["message"].string ?? "").isEmpty, "\(raw)", sourceLocation: sourceLocation)
    let wait = body["error"]["retry_after_ms"].int ?? 0
    #expect(wait > 0 && wait <= atMost, "retry_after_ms: \(raw)", sourceLocation: sourceLocation)
    #expect(retryAfter == String((wait + 999) / 1000), "Retry-After: \(retryAfter ?? "absent") for \(wait) ms", sourceLocation: sourceLocation)
}

extension TestSocket {
    fileprivate func sendMessage(id: String, _ conversation: String, _ text: String) async throws {
        try await send(["type": "send", "id": id, "conversation_id": conversation, "text": text, "client_id": "c-\(id)-\(UUID().uuidString.prefix(8))"])
    }

    /// The next frame that answers `id` (`re`), skipping `message` events
    /// from the user's other sessions.
    fileprivate func reply(to id: String) async throws -> JSON {
        while true {
            let frame = try await next()
            if frame["type"].string == "message" { continue }
            guard frame["re"].string == id else { throw TestFailure("expected the answer to \(id), got \(frame)") }
            return frame
        }
    }
}

extension Harness {
    /// Opens a socket of `user` and sends, one at a time, until it has been
    /// refused `floodStrikes + 1` times (the user's send limit must be spent
    /// or tiny); returns the close code. Nothing is sent after the last
    /// refusal: data the server has not read when it closes could reset the
    /// connection before the client reads the close frame.
    fileprivate func flood(
        _ user: TestUser, _ conversation: String, floodStrikes: Int = 1, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Int? {
        let (socket, _) = try await self.socket(user)
        var refusals = 0
        var n = 0
        while refusals <= floodStrikes {
            n += 1
            try await socket.send(["type": "send", "id": "f\(n)", "conversation_id": conversation, "text": "flood \(n)", "client_id": UUID().uuidString])
            let reply = try await socket.next()
            #expect(reply["re"].string == "f\(n)", "\(reply)", sourceLocation: sourceLocation)
            if reply["type"].string == "error" {
                #expect(reply["code"].string == "rate_limited", "\(reply)", sourceLocation: sourceLocation)
                refusals += 1
            }
            guard n < 10 else { throw TestFailure("not refused after 10 sends") }
        }
        let closed = try await socket.closed()
        #expect(closed.code == 4429, "flood closed with \(closed)", sourceLocation: sourceLocation)
        #expect(closed.framesBefore.isEmpty, "\(closed.framesBefore)", sourceLocation: sourceLocation)
        return closed.code
    }

    /// Banned: a new socket is closed with 4403 right after the upgrade,
    /// and authenticated routes answer 403 forbidden.
    fileprivate func expectBanned(_ user: TestUser, _ conversation: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let refusal = try await RawWebSocket.refusal(port: port, headers: [("Authorization", "Bearer \(user.token)")])
        #expect(refusal.status == 101, "\(refusal)", sourceLocation: sourceLocation)
        #expect(refusal.closeCode == 4403, "\(refusal)", sourceLocation: sourceLocation)
        // By frame too.
        let socket = try await TestSocket.connect(port: port)
        try await socket.send(["type": "auth", "token": user.token])
        #expect(try await socket.closed().code == 4403, sourceLocation: sourceLocation)

        for (method, path) in [
            (HTTPRequest.Method.get, "/v1/me"), (.get, "/v1/conversations"), (.get, "/v1/conversations/\(conversation)"),
            (.get, "/v1/conversations/\(conversation)/messages?after=0"),
        ] {
            expectError(try await call(method, path, token: user.token, sourceLocation: sourceLocation), .forbidden, "forbidden", "\(method) \(path):", sourceLocation: sourceLocation)
        }
        let send = try await call(
            .post, "/v1/conversations/\(conversation)/messages", token: user.token, json: ["text": "let me in", "client_id": UUID().uuidString],
            sourceLocation: sourceLocation)
        expectError(send, .forbidden, "forbidden", "send:", sourceLocation: sourceLocation)
    }

    fileprivate func expectNotBanned(_ user: TestUser, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let me = try await call(.get, "/v1/me", token: user.token, sourceLocation: sourceLocation)
        #expect(me.status == .ok, "\(me.status.code) \(me.raw)", sourceLocation: sourceLocation)
        let (socket, _) = try await self.socket(user)
        await socket.close()
    }

    /// Sends each text over the socket, then over HTTP; each must be
    /// acknowledged (nil) or refused with the code. Returns the accepted
    /// texts in the order sent.
    fileprivate func checkContent(
        _ cases: [(String, String?)], from user: TestUser, socket: TestSocket, in conversation: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String] {
        var accepted: [String] = []
        for (index, (text, code)) in cases.enumerated() {
            try await socket.sendMessage(id: "w\(index)", conversation, text)
            let frame = try await socket.next()
            #expect(frame["re"].string == "w\(index)", "\(frame)", sourceLocation: sourceLocation)
            if let code {
                #expect(frame["type"].string == "error" && frame["code"].string == code, "'\(text)': \(frame)", sourceLocation: sourceLocation)
            } else {
                #expect(frame["type"].string == "ack", "'\(text)': \(frame)", sourceLocation: sourceLocation)
                accepted.append(text)
            }
        }
        for (index, (text, code)) in cases.enumerated() {
            let reply = try await call(
                .post, "/v1/conversations/\(conversation)/messages", token: user.token, json: ["text": text, "client_id": "h\(index)"],
                sourceLocation: sourceLocation)
            if let code {
                let status: HTTPResponse.Status =
                    switch code {
                    case "too_large": .contentTooLarge
                    case "content_rejected": .unprocessableContent
                    default: .badRequest
                    }
                expectError(reply, status, code, "'\(text)':", sourceLocation: sourceLocation)
            } else {
                #expect(reply.status == .created, "'\(text)': \(reply.status.code) \(reply.raw)", sourceLocation: sourceLocation)
                accepted.append(text)
            }
        }
        return accepted
    }

    /// The receiver's socket gets exactly `texts`, in order, then nothing;
    /// history holds exactly them.
    fileprivate func expectDelivered(
        _ texts: [String], to socket: TestSocket, viewer: TestUser, in conversation: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        for text in texts {
            let message = try await socket.next(type: "message")["message"]
            #expect(message["text"].string == text, sourceLocation: sourceLocation)
        }
        await socket.expectSilence(sourceLocation: sourceLocation)
        #expect(try await messages(viewer, conversation).compactMap { $0["text"].string } == texts, sourceLocation: sourceLocation)
    }
}
