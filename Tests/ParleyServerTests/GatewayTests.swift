import Foundation
import Testing

/// The WebSocket gateway, over real sockets against a live server.
@Suite("WebSocket gateway", .timeLimit(.minutes(2)))
struct GatewayTests {
    // MARK: Opening

    @Test("a bearer header authenticates at the upgrade and ready describes the user's conversations")
    func headerAuth() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            _ = try await h.request(.post, "/v1/conversations/\(conversation)/messages", token: alice.token, json: ["text": "one", "client_id": "a1"])
            let (socket, ready) = try await h.socket(bob)
            #expect(isOpaqueID(ready["session_id"]))
            #expect(ready["user"]["id"].string == bob.id)
            #expect(ready["user"]["handle"].string == "bob")
            #expect(ready["conversations"].array.count == 1)
            let entry = ready["conversations"][0]
            #expect(entry["id"].string == conversation)
            #expect(entry["last_seq"].int == 1)
            #expect(entry["read_seq"].int == 0)
            #expect(entry["unread"].int == 1)
            await socket.close()
        }
    }

    @Test("the first frame can authenticate instead of a header")
    func frameAuth() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let socket = try await TestSocket.connect(port: h.port)
            try await socket.send(["type": "auth", "token": alice.token])
            let ready = try await socket.next(type: "ready")
            #expect(ready["user"]["id"].string == alice.id)
            try await socket.expectAlive()
            await socket.close()
        }
    }

    @Test("no auth within the timeout closes with 4401, and a token in the query string does not count")
    func authTimeout() async throws {
        var database = try await TestDatabase()
        database.configuration.authTimeout = .milliseconds(500)
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let socket = try await TestSocket.connect(port: h.port, path: "/v1/ws?token=\(alice.token)")
            let closed = try await socket.closed()
            #expect(closed.code == 4401)
            #expect(closed.framesBefore.isEmpty)
        }
    }

    @Test("an invalid token, in a header or in the auth frame, closes with 4401")
    func invalidTokens() async throws {
        try await Harness.live { h in
            let header = try await RawWebSocket.refusal(port: h.port, headers: [("Authorization", "Bearer not-a-token")])
            #expect(header.status == 101)
            #expect(header.closeCode == 4401)

            let frame = try await TestSocket.connect(port: h.port)
            try await frame.send(["type": "auth", "token": "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"])
            #expect(try await frame.closed().code == 4401)
        }
    }

    @Test("frames before auth are refused but the socket may still authenticate")
    func framesBeforeAuth() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let socket = try await TestSocket.connect(port: h.port)
            try await socket.send(["type": "ping", "id": "early"])
            let refusal = try await socket.next(type: "error")
            #expect(refusal["re"].string == "early")
            #expect(refusal["code"].string == "unauthorized")
            try await socket.send(["type": "auth", "id": "a"])
            let missing = try await socket.next(type: "error")
            #expect(missing["re"].string == "a")
            #expect(missing["code"].string == "invalid_request")
            try await socket.send(["type": "auth", "token": alice.token])
            _ = try await socket.next(type: "ready")
            await socket.close()
        }
    }

    // MARK: Fan-out

    @Test("a message reaches every session of every member except the sending one, which gets the ack")
    func fanOut() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let conversation = try await h.direct(alice, bob)

            let (alice1, _) = try await h.socket(alice)
            let (alice2, _) = try await h.socket(alice)
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            let (carol1, _) = try await h.socket(carol)

            try await alice1.send(["type": "send", "id": "s1", "conversation_id": conversation, "text": "hello <b>bob</b>", "client_id": "c-1"])
            let ack = try await alice1.next(type: "ack")
            #expect(ack["re"].string == "s1")
            #expect(ack["conversation_id"].string == conversation)
            #expect(ack["seq"].int == 1)
            #expect(ack["duplicate"].bool == false)
            #expect(isOpaqueID(ack["message_id"]))
            #expect(ack["ts"].int != nil)

            // The sender's other session sees its own client_id …
            let own = try await alice2.next(type: "message")["message"]
            #expect(own["id"] == ack["message_id"])
            #expect(own["client_id"].string == "c-1")
            #expect(own["sender"]["id"].string == alice.id)
            // … everyone else gets the same message without it.
            for socket in [bob1, bob2] {
                let message = try await socket.next(type: "message")["message"]
                #expect(message["id"] == ack["message_id"])
                #expect(message["seq"].int == 1)
                #expect(message["conversation_id"].string == conversation)
                #expect(message["text"].string == "hello <b>bob</b>")
                #expect(message["ts"] == ack["ts"])
                #expect(message["sender"].keys == ["id", "handle", "display_name"])
                #expect(message["client_id"].isNull)
            }
            // The message has reached the sender's other session, so it would
            // have been queued to the sending one by now: the next frame
            // there must be the pong, not a copy of the message.
            try await alice1.expectAlive()
            await carol1.expectSilence()
            for socket in [alice1, alice2, bob1, bob2, carol1] { await socket.close() }
        }
    }

    @Test("concurrent senders get distinct seqs 1…N and every recipient sees them all, in order")
    func concurrentSenders() async throws {
        try await Harness.live { h in
            let users = try await [h.signUp("owner"), h.signUp("member1"), h.signUp("member2")]
            let conversation = try await h.group(users[0], members: [users[1], users[2]])
            var sockets: [TestSocket] = []
            for user in users { sockets.append(try await h.socket(user).0) }
            let listener = try await h.socket(users[0]).0
            let perSender = 40

            let acked = try await withThrowingTaskGroup(of: [Int].self) { group in
                for (index, socket) in sockets.enumerated() {
                    group.addTask {
                        for n in 0..<perSender {
                            try await socket.send([
                                "type": "send", "id": "\(index)-\(n)", "conversation_id": conversation, "text": "m\(n)", "client_id": "\(index)-\(n)",
                            ])
                        }
                        var seqs: [Int] = []
                        while seqs.count < perSender {
                            let frame = try await socket.next()
                            if frame["type"].string == "ack" { seqs.append(frame["seq"].int!) }
                        }
                        return seqs
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let total = perSender * sockets.count
            #expect(acked.sorted() == Array(1...total))

            var delivered: [Int] = []
            while delivered.count < total {
                delivered.append(try await listener.next(type: "message")["message"]["seq"].int!)
            }
            #expect(delivered == Array(1...total), "a listener gets every message once, in seq order")
            let stored = try await h.history(users[1], conversation, query: "after=0&limit=200").map { $0["seq"].int! }
            #expect(stored == Array(1...total))
            for socket in sockets + [listener] { await socket.close() }
        }
    }

    @Test("a retried client_id is stored once and acknowledged again as a duplicate")
    func duplicateSend() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let (sender, _) = try await h.socket(alice)
            let (receiver, _) = try await h.socket(bob)
            try await sender.send(["type": "send", "id": "1", "conversation_id": conversation, "text": "once", "client_id": "same"])
            let first = try await sender.next(type: "ack")
            try await sender.send(["type": "send", "id": "2", "conversation_id": conversation, "text": "once, retried", "client_id": "same"])
            let retry = try await sender.next(type: "ack")
            #expect(first["duplicate"].bool == false)
            #expect(retry["duplicate"].bool == true)
            #expect(retry["re"].string == "2")
            #expect(retry["seq"] == first["seq"])
            #expect(retry["message_id"] == first["message_id"])
            _ = try await receiver.next(type: "message")
            try await receiver.expectAlive()
            #expect(try await h.history(bob, conversation).count == 1)
            await sender.close()
            await receiver.close()
        }
    }

    @Test("messages of a group reach its current members only")
    func membershipChanges() async throws {
        try await Harness.live { h in
            let owner = try await h.signUp("owner")
            let stay = try await h.signUp("stay")
            let leaver = try await h.signUp("leaver")
            let joiner = try await h.signUp("joiner")
            let conversation = try await h.group(owner, members: [stay, leaver])
            let (ownerSocket, _) = try await h.socket(owner)
            let (staySocket, _) = try await h.socket(stay)
            let (leaverSocket, _) = try await h.socket(leaver)
            let (joinerSocket, _) = try await h.socket(joiner)

            #expect(try await h.request(.delete, "/v1/conversations/\(conversation)/members/\(leaver.id)", token: owner.token).status == .noContent)
            #expect(try await h.request(.post, "/v1/conversations/\(conversation)/members", token: owner.token, json: ["user_id": joiner.id]).status == .noContent)

            // Everyone concerned hears of each change, in order.
            for socket in [ownerSocket, staySocket] {
                let removed = try await socket.next(type: "conversation")
                #expect(removed["change"].string == "member_removed" && removed["user_id"].string == leaver.id)
                let added = try await socket.next(type: "conversation")
                #expect(added["change"].string == "member_added" && added["user_id"].string == joiner.id)
            }
            let gone = try await leaverSocket.next(type: "conversation")
            #expect(gone["change"].string == "member_removed")
            #expect(!gone["conversation"]["members"].array.contains { $0["user"]["id"].string == leaver.id })
            let joined = try await joinerSocket.next(type: "conversation")
            #expect(joined["change"].string == "member_added" && joined["conversation"]["id"].string == conversation)

            try await ownerSocket.send(["type": "send", "conversation_id": conversation, "text": "after the change", "client_id": "x"])
            _ = try await ownerSocket.next(type: "ack")
            #expect(try await staySocket.next(type: "message")["message"]["text"].string == "after the change")
            #expect(try await joinerSocket.next(type: "message")["message"]["text"].string == "after the change")
            await leaverSocket.expectSilence()

            // The removed member can no longer send there either.
            try await leaverSocket.send(["type": "send", "id": "l", "conversation_id": conversation, "text": "let me in", "client_id": "l"])
            let refused = try await leaverSocket.next(type: "error")
            #expect(refused["code"].string == "not_found")
            #expect(refused["re"].string == "l")
            for socket in [ownerSocket, staySocket, leaverSocket, joinerSocket] { await socket.close() }
        }
    }

    @Test("shutting the server down drains open sockets: notice, then 1001, instead of waiting for them")
    func shutdownClosesSockets() async throws {
        let socket: TestSocket = try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let (socket, _) = try await h.socket(alice)
            return socket
        }
        let closed = try await socket.closed()
        #expect(closed.framesBefore.map { $0["type"].string } == ["notice"])
        #expect(closed.framesBefore.first?["code"].string == "draining")
        #expect(closed.code == 1001)
        #expect(closed.reason == "server shutting down")
    }

    @Test("a message sent in fragments is put together; one whose fragments pass the size limit closes with 1009; text that is not UTF-8 closes with 1007")
    func fragmentsAndEncoding() async throws {
        var database = try await TestDatabase()
        database.configuration.maxFrameBytes = 2048
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let (socket, _) = try await h.socket(alice)
            let ping = Array(#"{"type":"ping","id":"in pieces"}"#.utf8)
            try await socket.sendFrame(opcode: .text, fin: false, Array(ping[0..<10]))
            try await socket.sendFrame(opcode: .continuation, fin: false, Array(ping[10..<20]))
            try await socket.sendFrame(opcode: .continuation, fin: true, Array(ping[20...]))
            #expect(try await socket.next(type: "pong")["re"].string == "in pieces")

            let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1500)
            try await socket.sendFrame(opcode: .text, fin: false, chunk)
            try await socket.sendFrame(opcode: .continuation, fin: true, chunk)
            #expect(try await socket.closed().code == 1009)

            let (second, _) = try await h.socket(alice)
            try await second.sendFrame(opcode: .text, fin: true, [0x7B, 0xC3, 0x28, 0x7D])
            #expect(try await second.closed().code == 1007)
        }
    }

    // MARK: Refusals and bad input

    @Test("sending to a conversation one is not in, or one that does not exist, answers not_found alike")
    func nonMemberSend() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let mallory = try await h.signUp("mallory")
            let conversation = try await h.direct(alice, bob)
            let (socket, _) = try await h.socket(mallory)
            try await socket.send(["type": "send", "id": "a", "conversation_id": conversation, "text": "hi", "client_id": "1"])
            let notMine = try await socket.next(type: "error")
            try await socket.send(["type": "send", "id": "b", "conversation_id": "AAAAAAAAAAAAAAAAAAAAAA", "text": "hi", "client_id": "2"])
            let absent = try await socket.next(type: "error")
            #expect(notMine["code"].string == "not_found")
            #expect(notMine["message"] == absent["message"])
            #expect(absent["code"].string == "not_found")
            try await socket.send(["type": "history", "id": "c", "conversation_id": conversation])
            #expect(try await socket.next(type: "error")["code"].string == "not_found")
            #expect(try await h.history(alice, conversation).isEmpty)
            await socket.close()
        }
    }

    @Test("every malformed frame gets an error, with re where the id was readable, and the socket stays usable")
    func badFrames() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let (socket, _) = try await h.socket(alice)
            let cases: [(frame: String, re: String?, code: String)] = [
                ("not json", nil, "invalid_request"),
                ("[1,2,3]", nil, "invalid_request"),
                (#"{"id":"t1"}"#, "t1", "invalid_request"),
                (#"{"type":"teleport","id":"t2"}"#, "t2", "invalid_request"),
                (#"{"type":"send","id":"t3","text":"no conversation","client_id":"x"}"#, "t3", "invalid_request"),
                (#"{"type":"send","id":"t4","conversation_id":"\#(conversation)","client_id":"x"}"#, "t4", "invalid_request"),
                (#"{"type":"send","id":"t5","conversation_id":"\#(conversation)","text":"   ","client_id":"x"}"#, "t5", "invalid_request"),
                (#"{"type":"send","id":"t6","conversation_id":"\#(conversation)","text":"hi"}"#, "t6", "invalid_request"),
                (#"{"type":"send","id":"t7","conversation_id":42,"text":"hi","client_id":"x"}"#, "t7", "invalid_request"),
                (#"{"type":"history","id":"t8","conversation_id":"\#(conversation)","after":1,"before":5}"#, "t8", "invalid_request"),
                (#"{"type":"history","id":"t9","conversation_id":"\#(conversation)","after":99999999999999999999999}"#, "t9", "invalid_request"),
                (#"{"type":"read","id":"t10","conversation_id":"\#(conversation)","seq":-1}"#, "t10", "invalid_request"),
                (#"{"type":"ping","id":\#(String(repeating: "x", count: 65).debugDescription)}"#, nil, "invalid_request"),
                (#"{"type":"send","id":"t11","conversation_id":"\#(conversation)","text":"\#(String(repeating: "é", count: 4001))","client_id":"x"}"#, "t11", "too_large"),
                (#"{"type":"auth","id":"t12","token":"whatever"}"#, "t12", "invalid_request"),
            ]
            for (frame, re, code) in cases {
                try await socket.sendText(frame)
                let error = try await socket.next(type: "error")
                #expect(error["code"].string == code, "for \(frame.prefix(80))")
                #expect(error["re"].string == re, "for \(frame.prefix(80))")
                #expect(!(error["message"].string ?? "").isEmpty)
            }
            try await socket.sendBinary([0xff, 0xfe, 0x00])
            #expect(try await socket.next(type: "error")["code"].string == "invalid_request")
            try await socket.expectAlive()
            // Nothing refused was stored.
            #expect(try await h.history(alice, conversation).isEmpty)
            await socket.close()
        }
    }

    // MARK: History and read marks

    @Test("history over the socket: newest page, after, before, has_more, client_id only for one's own messages")
    func history() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            for n in 1...5 {
                let sender = n.isMultiple(of: 2) ? bob : alice
                _ = try await h.request(.post, "/v1/conversations/\(conversation)/messages", token: sender.token, json: ["text": "m\(n)", "client_id": "c\(n)"])
            }
            let (socket, _) = try await h.socket(alice)
            try await socket.send(["type": "history", "id": "h1", "conversation_id": conversation, "limit": 2])
            let newest = try await socket.next(type: "history")
            #expect(newest["re"].string == "h1")
            #expect(newest["conversation_id"].string == conversation)
            #expect(newest["messages"].array.map { $0["seq"].int! } == [4, 5])
            #expect(newest["has_more"].bool == true)
            #expect(newest["messages"][0]["client_id"].isNull, "bob's message: no client_id for alice")
            #expect(newest["messages"][1]["client_id"].string == "c5", "alice's own message keeps its client_id")

            try await socket.send(["type": "history", "id": "h2", "conversation_id": conversation, "before": 4, "limit": 10])
            let before = try await socket.next(type: "history")
            #expect(before["messages"].array.map { $0["seq"].int! } == [1, 2, 3])
            #expect(before["has_more"].bool == false)

            try await socket.send(["type": "history", "id": "h3", "conversation_id": conversation, "after": 3])
            let after = try await socket.next(type: "history")
            #expect(after["messages"].array.map { $0["seq"].int! } == [4, 5])
            #expect(after["has_more"].bool == false)
            await socket.close()
        }
    }

    @Test("read moves the mark forward only, and the next session's ready shows it")
    func readMarks() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            for n in 1...3 {
                _ = try await h.request(.post, "/v1/conversations/\(conversation)/messages", token: alice.token, json: ["text": "m\(n)", "client_id": "c\(n)"])
            }
            let (socket, _) = try await h.socket(bob)
            try await socket.send(["type": "read", "id": "r1", "conversation_id": conversation, "seq": 2])
            #expect(try await socket.next(type: "ok")["re"].string == "r1")
            try await socket.send(["type": "read", "id": "r2", "conversation_id": conversation, "seq": 1])
            _ = try await socket.next(type: "ok")
            let (second, ready) = try await h.socket(bob)
            #expect(ready["conversations"][0]["read_seq"].int == 2)
            #expect(ready["conversations"][0]["unread"].int == 1)
            await socket.close()
            await second.close()
        }
    }

    // MARK: Tokens and durability

    @Test("revoking a token closes its sockets with 4401 and no other token's")
    func revocationClosesSockets() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let otherToken = try await h.logIn("alice")
            let (first, _) = try await h.socket(alice)
            let (second, _) = try await TestSocket.ready(port: h.port, token: alice.token)
            let (unrelated, _) = try await TestSocket.ready(port: h.port, token: otherToken)

            #expect(try await h.request(.delete, "/v1/tokens/current", token: alice.token).status == .noContent)
            #expect(try await first.closed().code == 4401)
            #expect(try await second.closed().code == 4401)
            try await unrelated.expectAlive()

            #expect(try await h.request(.get, "/v1/me", token: alice.token).status == .unauthorized)
            let again = try await RawWebSocket.refusal(port: h.port, headers: [("Authorization", "Bearer \(alice.token)")])
            #expect(again.closeCode == 4401)
            await unrelated.close()
        }
    }

    @Test("a socket is closed with 4401 when its token expires, even if the client stays silent")
    func tokenExpiry() async throws {
        var database = try await TestDatabase()
        // Long enough that a loaded machine still opens the socket before
        // the token expires (exp has whole seconds).
        database.configuration.tokenLifetime = .seconds(10)
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let (socket, _) = try await h.socket(alice)
            let closed = try await socket.closed(timeout: .seconds(20))
            #expect(closed.code == 4401)
            #expect(closed.reason == "token expired")
        }
    }

    @Test("acknowledged messages survive a restart, and seq continues after them")
    func survivesRestart() async throws {
        let database = try await TestDatabase()
        let configuration = database.configuration
        let (alice, bob, conversation, acked) = try await Harness.live(configuration) { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let (socket, _) = try await h.socket(alice)
            var acked: [String] = []
            for n in 1...10 {
                try await socket.send(["type": "send", "conversation_id": conversation, "text": "before restart \(n)", "client_id": "r\(n)"])
            }
            for _ in 1...10 { acked.append(try await socket.next(type: "ack")["message_id"].string!) }
            await socket.close()
            return (alice, bob, conversation, acked)
        }
        try await Harness.live(configuration) { h in
            // Tokens, accounts and messages all survived.
            let stored = try await h.history(bob, conversation)
            #expect(stored.map { $0["id"].string! } == acked)
            #expect(stored.map { $0["seq"].int! } == Array(1...10))
            let (socket, ready) = try await h.socket(alice)
            #expect(ready["conversations"][0]["last_seq"].int == 10)
            try await socket.send(["type": "send", "conversation_id": conversation, "text": "after restart", "client_id": "r11"])
            #expect(try await socket.next(type: "ack")["seq"].int == 11)
            await socket.close()
        }
    }
}
