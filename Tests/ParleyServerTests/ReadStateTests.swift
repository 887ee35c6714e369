import Foundation
import Testing

/// Read marks over real sockets: `read`, `receipt`, `read_state`, unread counts.
@Suite("Read receipts and unread counts", .timeLimit(.minutes(2)))
struct ReadStateTests {
    @Test("read moves the mark: others get receipt, the reader's other sessions read_state, the reading session only ok")
    func readOverSocket() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob, carol])
            for n in 1...3 { try await h.send(alice, group, "m\(n)") }

            let (aliceSocket, _) = try await h.socket(alice)
            let (carolSocket, _) = try await h.socket(carol)
            let (bob1, ready) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            let entry = ready["conversations"].array.first { $0["id"].string == group }
            #expect(entry?["last_seq"].int == 3 && entry?["read_seq"].int == 0 && entry?["unread"].int == 3)

            try await bob1.send(["type": "read", "id": "r1", "conversation_id": group, "seq": 2])
            let ok = try await bob1.next(type: "ok")
            #expect(ok["re"].string == "r1")
            for socket in [aliceSocket, carolSocket] {
                let receipt = try await socket.next(type: "receipt")
                #expect(receipt.keys == ["type", "conversation_id", "user_id", "seq"])
                #expect(receipt["conversation_id"].string == group && receipt["user_id"].string == bob.id && receipt["seq"].int == 2)
            }
            let state = try await bob2.next(type: "read_state")
            #expect(state.keys == ["type", "conversation_id", "read_seq", "unread"])
            #expect(state["conversation_id"].string == group && state["read_seq"].int == 2 && state["unread"].int == 1)
            try await bob1.expectAlive()  // no read_state for the session that read

            let seen = try await h.show(bob, group)
            #expect(seen["read_seq"].int == 2 && seen["unread"].int == 1)
            for socket in [aliceSocket, carolSocket, bob1, bob2] { await socket.close() }
        }
    }

    @Test("the mark never moves back and never past last_seq; a read that moves nothing tells nobody")
    func forwardOnly() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let direct = try await h.direct(alice, bob)
            for n in 1...3 { try await h.send(alice, direct, "m\(n)") }
            let (aliceSocket, _) = try await h.socket(alice)
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)

            try await bob1.send(["type": "read", "id": "a", "conversation_id": direct, "seq": 2])
            _ = try await bob1.next(type: "ok")
            #expect(try await aliceSocket.next(type: "receipt")["seq"].int == 2)
            #expect(try await bob2.next(type: "read_state")["read_seq"].int == 2)

            for (id, seq) in [("back", 1), ("same", 2), ("zero", 0)] {
                try await bob1.send(["type": "read", "id": id, "conversation_id": direct, "seq": seq])
                #expect(try await bob1.next(type: "ok")["re"].string == id)
            }
            try await aliceSocket.expectAlive()
            try await bob2.expectAlive()
            #expect(try await h.show(bob, direct)["read_seq"].int == 2, "still 2 after reading 1")

            try await bob1.send(["type": "read", "id": "far", "conversation_id": direct, "seq": 99])
            _ = try await bob1.next(type: "ok")
            #expect(try await aliceSocket.next(type: "receipt")["seq"].int == 3, "clamped to last_seq")
            let state = try await bob2.next(type: "read_state")
            #expect(state["read_seq"].int == 3 && state["unread"].int == 0)
            #expect(try await h.show(bob, direct)["read_seq"].int == 3)
            for socket in [aliceSocket, bob1, bob2] { await socket.close() }
        }
    }

    @Test("POST …/read sends read_state to every session of the reader and receipt to the others")
    func readOverHTTP() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let direct = try await h.direct(alice, bob)
            try await h.send(alice, direct, "hello")
            let (aliceSocket, _) = try await h.socket(alice)
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            expectNoContent(try await h.call(.post, "/v1/conversations/\(direct)/read", token: bob.token, json: ["seq": 1]))
            for socket in [bob1, bob2] {
                let state = try await socket.next(type: "read_state")
                #expect(state["read_seq"].int == 1 && state["unread"].int == 0)
            }
            let receipt = try await aliceSocket.next(type: "receipt")
            #expect(receipt["user_id"].string == bob.id && receipt["seq"].int == 1)
            // Again: nothing moves, nobody hears.
            expectNoContent(try await h.call(.post, "/v1/conversations/\(direct)/read", token: bob.token, json: ["seq": 1]))
            try await aliceSocket.expectAlive()
            try await bob1.expectAlive()
            for socket in [aliceSocket, bob1, bob2] { await socket.close() }
        }
    }

    @Test("unread counts messages from others after the mark; sending moves the sender's own mark and sends no receipt")
    func unreadCounts() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let direct = try await h.direct(alice, bob)
            for n in 1...3 { try await h.send(alice, direct, "m\(n)") }
            #expect(try await h.show(bob, direct)["unread"].int == 3)
            #expect(try await h.show(alice, direct)["unread"].int == 0)
            #expect(try await h.show(alice, direct)["read_seq"].int == 3, "the sender has read what she sent")

            let (aliceSocket, _) = try await h.socket(alice)
            try await h.send(bob, direct, "reply")
            #expect(try await aliceSocket.next(type: "message")["message"]["seq"].int == 4)
            try await aliceSocket.expectAlive()  // no receipt for Bob's implicit read
            let bobView = try await h.show(bob, direct)
            #expect(bobView["read_seq"].int == 4 && bobView["unread"].int == 0, "replying reads everything before")
            let aliceView = try await h.show(alice, direct)
            #expect(aliceView["read_seq"].int == 3 && aliceView["unread"].int == 1)

            let listed = try await h.call(.get, "/v1/conversations", token: alice.token).body["conversations"][0]
            #expect(listed["unread"].int == 1 && listed["read_seq"].int == 3 && listed["last_seq"].int == 4)
            #expect(listed["last_message"]["text"].string == "reply")
            let (again, ready) = try await h.socket(alice)
            #expect(ready["conversations"][0]["unread"].int == 1)
            for socket in [aliceSocket, again] { await socket.close() }
        }
    }

    @Test("a read with no seq, a negative seq, or into a conversation one is not in is answered with error")
    func badReads() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let mallory = try await h.signUp("mallory")
            let direct = try await h.direct(alice, bob)
            try await h.send(alice, direct, "hi")
            let (socket, _) = try await h.socket(mallory)
            let (bobSocket, _) = try await h.socket(bob)
            let (aliceSocket, _) = try await h.socket(alice)
            for (frame, code) in [
                (["type": "read", "id": "1", "conversation_id": direct] as [String: Any], "invalid_request"),
                (["type": "read", "id": "2", "conversation_id": direct, "seq": -1], "invalid_request"),
                (["type": "read", "id": "3", "seq": 1], "invalid_request"),
                (["type": "read", "id": "4", "conversation_id": direct, "seq": 1], "not_found"),
            ] {
                try await socket.send(frame)
                let error = try await socket.next(type: "error")
                #expect(error["re"].string == frame["id"] as? String && error["code"].string == code, "\(frame)")
            }
            try await aliceSocket.expectAlive()
            try await bobSocket.expectAlive()
            #expect(try await h.show(bob, direct)["read_seq"].int == 0)
            for socket in [socket, bobSocket, aliceSocket] { await socket.close() }
        }
    }
}
