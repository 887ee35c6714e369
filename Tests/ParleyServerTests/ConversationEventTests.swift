import Foundation
import Testing

/// `conversation` events over real sockets: creation and membership changes
/// reach the members at once, on every session, with no reconnect.
@Suite("Conversation events", .timeLimit(.minutes(2)))
struct ConversationEventTests {
    @Test("creating a group tells every session of every member, each with its own view; outsiders hear nothing")
    func groupCreated() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let outsider = try await h.signUp("outsider")
            let (alice1, _) = try await h.socket(alice)
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            let (outsiderSocket, _) = try await h.socket(outsider)

            let group = try await h.group(alice, title: "Plans", members: [bob, carol])
            for socket in [alice1, bob1, bob2] {
                let event = try await socket.next(type: "conversation")
                #expect(event.keys == ["type", "change", "conversation"])
                #expect(event["change"].string == "created")
                let conversation = event["conversation"]
                #expect(conversation["id"].string == group && conversation["title"].string == "Plans")
                #expect(conversation["owner_id"].string == alice.id)
                #expect(conversation["read_seq"].int == 0 && conversation["unread"].int == 0 && conversation["last_seq"].int == 0)
                let online = Dictionary(uniqueKeysWithValues: conversation["members"].array.map { ($0["user"]["id"].string!, $0["online"].bool!) })
                #expect(online == [alice.id: true, bob.id: true, carol.id: false])
            }
            await outsiderSocket.expectSilence()
            try await bob1.expectAlive()
            for socket in [alice1, bob1, bob2, outsiderSocket] { await socket.close() }
        }
    }

    @Test("a direct conversation is announced when it is created, not when it is opened again")
    func directCreated() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let (aliceSocket, _) = try await h.socket(alice)
            let (bobSocket, _) = try await h.socket(bob)
            let first = try await h.call(.post, "/v1/conversations", token: alice.token, json: ["kind": "direct", "with": bob.id])
            #expect(first.status == .created)
            for socket in [aliceSocket, bobSocket] {
                let event = try await socket.next(type: "conversation")
                #expect(event["change"].string == "created" && event["conversation"]["kind"].string == "direct")
                #expect(event["conversation"]["id"] == first.body["conversation"]["id"])
            }
            let again = try await h.call(.post, "/v1/conversations", token: bob.token, json: ["kind": "direct", "with": alice.id])
            #expect(again.status == .ok)
            try await aliceSocket.expectAlive()
            try await bobSocket.expectAlive()
            for socket in [aliceSocket, bobSocket] { await socket.close() }
        }
    }

    @Test("an added member hears of the group first, then gets its messages at once on every session; read state is their own")
    func memberAdded() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob])
            try await h.send(alice, group, "before carol")
            try await h.send(alice, group, "still before")
            let (bobSocket, _) = try await h.socket(bob)
            let (carol1, _) = try await h.socket(carol)
            let (carol2, _) = try await h.socket(carol)

            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/members", token: alice.token, json: ["user_id": carol.id]))
            let (aliceSocket, _) = try await h.socket(alice)
            try await aliceSocket.send(["type": "send", "id": "s", "conversation_id": group, "text": "welcome", "client_id": "w"])
            _ = try await aliceSocket.next(type: "ack")

            for socket in [carol1, carol2] {
                let event = try await socket.next(type: "conversation")
                #expect(event["change"].string == "member_added" && event["user_id"].string == carol.id)
                // A newcomer starts with nothing unread.
                #expect(event["conversation"]["read_seq"].int == 2 && event["conversation"]["unread"].int == 0)
                #expect(event["conversation"]["members"].array.map { $0["user"]["id"].string } == [alice.id, bob.id, carol.id])
                #expect(try await socket.next(type: "message")["message"]["text"].string == "welcome")
            }
            let bobEvent = try await bobSocket.next(type: "conversation")
            #expect(bobEvent["change"].string == "member_added" && bobEvent["conversation"]["unread"].int == 2, "Bob's own view")
            #expect(try await bobSocket.next(type: "message")["message"]["text"].string == "welcome")
            for socket in [aliceSocket, bobSocket, carol1, carol2] { await socket.close() }
        }
    }

    @Test("a removed member hears of it on every session and gets nothing more; a member who leaves too")
    func memberRemoved() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob, carol])
            let (aliceSocket, _) = try await h.socket(alice)
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            let (carolSocket, _) = try await h.socket(carol)

            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/members/\(bob.id)", token: alice.token))
            for socket in [bob1, bob2, aliceSocket, carolSocket] {
                let event = try await socket.next(type: "conversation")
                #expect(event["change"].string == "member_removed" && event["user_id"].string == bob.id)
                #expect(event["conversation"]["members"].array.map { $0["user"]["id"].string } == [alice.id, carol.id])
            }
            try await h.send(carol, group, "bob is gone")
            // Sent over HTTP, so Carol's own socket gets it too.
            for socket in [aliceSocket, carolSocket] {
                #expect(try await socket.next(type: "message")["message"]["text"].string == "bob is gone")
            }
            await bob1.expectSilence()
            try await bob2.expectAlive()

            // Carol leaves on her own: she and Alice hear of it.
            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/members/\(carol.id)", token: carol.token))
            for socket in [carolSocket, aliceSocket] {
                let event = try await socket.next(type: "conversation")
                #expect(event["change"].string == "member_removed" && event["user_id"].string == carol.id)
            }
            try await bob1.expectAlive()
            for socket in [aliceSocket, bob1, bob2, carolSocket] { await socket.close() }
        }
    }

    @Test("the last message in an event shows client_id to its sender only")
    func lastMessageClientID() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob])
            try await h.send(alice, group, "hello", clientID: "alice-1")
            let (aliceSocket, _) = try await h.socket(alice)
            let (carolSocket, _) = try await h.socket(carol)
            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/members", token: alice.token, json: ["user_id": carol.id]))
            let own = try await aliceSocket.next(type: "conversation")["conversation"]["last_message"]
            let other = try await carolSocket.next(type: "conversation")["conversation"]["last_message"]
            #expect(own["text"].string == "hello" && own["client_id"].string == "alice-1")
            #expect(other["text"].string == "hello" && other["client_id"].isNull)
            for socket in [aliceSocket, carolSocket] { await socket.close() }
        }
    }
}
