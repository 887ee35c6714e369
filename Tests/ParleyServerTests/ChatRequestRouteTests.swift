import Foundation
import Testing

/// Chat requests over HTTP and the socket (docs/PROTOCOL.md, "Chat
/// requests"): the `request` flag in every view of a conversation, what a
/// request keeps from its sender, and accept, decline and writing back,
/// with two sessions for the one who gets the request.
@Suite("Chat requests over HTTP and WebSocket", .timeLimit(.minutes(3)))
struct ChatRequestRouteTests {
    /// A live server with chat requests on.
    static func live(_ body: @Sendable (Harness) async throws -> Void) async throws {
        var database = try await TestDatabase()
        database.configuration.limits.chatRequests = true
        // A typing held back still spends the typer's throttle: no interval,
        // so that the one after acceptance is relayed at once.
        database.configuration.limits.typingInterval = .zero
        try await Harness.live(database.configuration, body)
    }

    @Test("off by default: request is false everywhere, and the accept and decline routes answer 404")
    func offByDefault() async throws {
        try await Harness.live { h in
            let (alice, bob, direct) = try await h.pair()
            #expect(try await h.show(bob, direct)["request"] == .bool(false))
            let (socket, ready) = try await h.socket(bob)
            #expect(ready["conversations"].array.first?["request"] == .bool(false), "\(ready)")
            for action in ["accept", "decline"] {
                expectError(try await h.call(.post, "/v1/conversations/\(direct)/\(action)", token: bob.token), .notFound, "not_found")
            }
            #expect(try await h.listIDs(bob) == [direct])
            _ = alice
            await socket.close()
        }
    }

    @Test("a stranger's direct conversation is a request for the other in the list, GET, the event and ready; the opener's view is not")
    func requestFlag() async throws {
        try await Self.live { h in
            let mallory = try await h.signUp("mallory")
            let bob = try await h.signUp("bob")
            let (bob1, _) = try await h.socket(bob)
            let direct = try await h.direct(mallory, bob)
            let event = try await bob1.next(type: "conversation")
            #expect(event["change"] == .string("created") && event["conversation"]["request"] == .bool(true), "\(event)")
            #expect(try await h.show(bob, direct)["request"] == .bool(true))
            #expect(try await h.show(mallory, direct)["request"] == .bool(false))
            let listed = try await h.call(.get, "/v1/conversations", token: bob.token)
            #expect(listed.body["conversations"].array.first?["request"] == .bool(true))
            let (bob2, ready) = try await h.socket(bob)
            #expect(ready["conversations"].array.first?["request"] == .bool(true), "\(ready)")
            // Someone Bob shares an accepted conversation with is no stranger.
            let alice = try await h.signUp("alice")
            let group = try await h.group(bob, members: [alice])
            _ = group
            let friendly = try await h.direct(alice, bob)
            #expect(try await h.show(bob, friendly)["request"] == .bool(false))
            await bob1.close()
            await bob2.close()
        }
    }

    @Test("while it is a request, the sender sees no presence, receipt or typing of Bob's; accepting lets them through, and both of Bob's sessions hear of it")
    func acceptLetsThrough() async throws {
        try await Self.live { h in
            let mallory = try await h.signUp("mallory")
            let bob = try await h.signUp("bob")
            let direct = try await h.direct(mallory, bob)
            let (watcher, _) = try await h.socket(mallory, ignoring: [])
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            try await h.send(mallory, direct, "hi, it's me")
            _ = try await bob1.next(type: "message")
            _ = try await bob2.next(type: "message")
            _ = try await watcher.next(type: "message")

            // Held back: presence (pulled, listed, pushed), receipts, typing.
            let pulled = try await h.call(.get, "/v1/users/bob", token: mallory.token)
            #expect(pulled.body["online"] == .bool(false) && pulled.body["last_seen_ts"] == .null, "\(pulled.raw)")
            let members = try await h.show(mallory, direct)["members"].array
            let bobMember = members.first { $0["user"]["id"].string == bob.id }
            #expect(bobMember?["online"] == .bool(false) && bobMember?["read_seq"] == .number(0), "\(members)")
            try await bob1.send(["type": "read", "id": "r1", "conversation_id": direct, "seq": 1])
            _ = try await bob1.next(type: "ok")
            try await bob1.send(["type": "typing", "conversation_id": direct])
            await watcher.expectSilence(for: .milliseconds(500))
            #expect(try await bob2.next(type: "read_state")["read_seq"] == .number(1), "Bob's own sessions still follow his reads")

            let accepted = try await h.call(.post, "/v1/conversations/\(direct)/accept", token: bob.token)
            #expect(accepted.status == .ok && accepted.body["conversation"]["request"] == .bool(false), "\(accepted.raw)")
            for socket in [bob1, bob2] {
                let event = try await socket.next(type: "conversation")
                #expect(event["change"] == .string("accepted") && event["user_id"] == .string(bob.id))
                #expect(event["conversation"]["request"] == .bool(false))
            }
            let toMallory = try await watcher.next(type: "conversation")
            #expect(toMallory["change"] == .string("accepted"))
            let now = toMallory["conversation"]["members"].array.first { $0["user"]["id"].string == bob.id }
            #expect(now?["online"] == .bool(true) && now?["read_seq"] == .number(1), "\(toMallory)")
            #expect(try await h.call(.get, "/v1/users/bob", token: mallory.token).body["online"] == .bool(true))

            try await h.send(mallory, direct, "so?")
            _ = try await bob1.next(type: "message")
            _ = try await watcher.next(type: "message")
            try await bob1.send(["type": "read", "id": "r2", "conversation_id": direct, "seq": 2])
            _ = try await bob1.next(type: "ok")
            let receipt = try await watcher.next(type: "receipt")
            #expect(receipt["user_id"] == .string(bob.id) && receipt["seq"] == .number(2))
            try await bob1.send(["type": "typing", "conversation_id": direct])
            #expect(try await watcher.next(type: "typing")["user_id"] == .string(bob.id))
            // Accepting again changes nothing and tells nobody.
            let again = try await h.call(.post, "/v1/conversations/\(direct)/accept", token: bob.token)
            #expect(again.status == .ok)
            await watcher.expectSilence()
            for socket in [watcher, bob1, bob2] { await socket.close() }
        }
    }

    @Test("in a stranger's group, a friend who sees Bob elsewhere still sees him online there; the stranger does not")
    func presenceInGroupRequest() async throws {
        try await Self.live { h in
            let mallory = try await h.signUp("mallory")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let friends = try await h.group(carol, members: [bob])
            #expect(try await h.call(.post, "/v1/conversations/\(friends)/accept", token: bob.token).status == .ok)
            let (bobSocket, _) = try await h.socket(bob)
            let group = try await h.group(mallory, members: [bob, carol])
            func bobOnline(to viewer: TestUser) async throws -> JSON? {
                try await h.show(viewer, group)["members"].array.first { $0["user"]["id"].string == bob.id }?["online"]
            }
            #expect(try await h.show(bob, group)["request"] == .bool(true))
            #expect(try await bobOnline(to: carol) == .bool(true))
            #expect(try await bobOnline(to: mallory) == .bool(false))
            await bobSocket.close()
        }
    }

    @Test("writing into a request accepts it: the ack, then everyone sees request:false")
    func sendingAccepts() async throws {
        try await Self.live { h in
            let mallory = try await h.signUp("mallory")
            let bob = try await h.signUp("bob")
            let direct = try await h.direct(mallory, bob)
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            try await bob1.send(["type": "send", "id": "s", "conversation_id": direct, "text": "who are you?", "client_id": "b-1"])
            #expect(try await bob1.next(type: "ack")["seq"] == .number(1))
            let event = try await bob2.next(type: "conversation")
            #expect(event["change"] == .string("accepted") && event["conversation"]["request"] == .bool(false))
            #expect(try await bob2.next(type: "message")["message"]["seq"] == .number(1), "the message follows its acceptance")
            #expect(try await h.show(bob, direct)["request"] == .bool(false))
            await bob1.close()
            await bob2.close()
        }
    }

    @Test("declining a direct conversation: gone from Bob's list and sight, no events from it, until he opens it again")
    func declineDirect() async throws {
        try await Self.live { h in
            let mallory = try await h.signUp("mallory")
            let bob = try await h.signUp("bob")
            let direct = try await h.direct(mallory, bob)
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            let (watcher, _) = try await h.socket(mallory)
            expectNoContent(try await h.call(.post, "/v1/conversations/\(direct)/decline", token: bob.token))
            for socket in [bob1, bob2] {
                let event = try await socket.next(type: "conversation")
                #expect(event["change"] == .string("declined") && event["conversation"]["id"] == .string(direct), "\(event)")
            }
            await watcher.expectSilence()
            #expect(try await h.listIDs(bob) == [])
            expectError(try await h.call(.get, "/v1/conversations/\(direct)", token: bob.token), .notFound, "not_found")
            expectError(try await h.call(.post, "/v1/conversations/\(direct)/decline", token: bob.token), .notFound, "not_found")
            let (bob3, ready) = try await h.socket(bob)
            #expect(ready["conversations"].array.isEmpty, "\(ready)")

            try await h.send(mallory, direct, "hello??")
            try await watcher.send(["type": "typing", "conversation_id": direct])
            for socket in [bob1, bob2, bob3] { await socket.expectSilence() }
            #expect(try await h.listIDs(mallory) == [direct], "Mallory is not told")

            let reopened = try await h.call(.post, "/v1/conversations", token: bob.token, json: ["kind": "direct", "with": mallory.id])
            #expect(reopened.status == .ok && reopened.body["conversation"]["id"] == .string(direct), "\(reopened.raw)")
            #expect(reopened.body["conversation"]["request"] == .bool(false))
            #expect(reopened.body["conversation"]["unread"] == .number(1), "what was written meanwhile is there")
            #expect(try await bob1.next(type: "conversation")["change"] == .string("accepted"))
            for socket in [bob1, bob2, bob3, watcher] { await socket.close() }
        }
    }

    @Test("declining a group is leaving it: the others see member_removed")
    func declineGroup() async throws {
        try await Self.live { h in
            let mallory = try await h.signUp("mallory")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(mallory, members: [bob, carol])
            #expect(try await h.show(bob, group)["request"] == .bool(true))
            let (watcher, _) = try await h.socket(mallory)
            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/decline", token: bob.token))
            let event = try await watcher.next(type: "conversation")
            #expect(event["change"] == .string("member_removed") && event["user_id"] == .string(bob.id))
            #expect(try await h.listIDs(bob) == [])
            await watcher.close()
        }
    }

    @Test("what the product's backend brings together is accepted: its direct conversations, its groups and the members it adds; so is a group joined by invite")
    func serviceAndInvitesAreAccepted() async throws {
        var database = try await TestDatabase()
        database.configuration.limits.chatRequests = true
        let key = "service-key-of-the-product-backend-0123456789"
        database.configuration.serviceKey = key
        try await Harness.live(database.configuration) { h in
            let ann = try await h.signUp("ann")
            let ben = try await h.signUp("ben")
            let cat = try await h.signUp("cat")
            let dan = try await h.signUp("dan")
            let made = try await h.call(.post, "/v1/service/conversations", token: key, json: ["kind": "direct", "members": [ann.id, ben.id]])
            let direct = try #require(made.body["conversation"]["id"].string, "\(made.raw)")
            let grouped = try await h.call(
                .post, "/v1/service/conversations", token: key, json: ["kind": "group", "title": "Team", "owner_id": ann.id, "members": [cat.id]])
            let group = try #require(grouped.body["conversation"]["id"].string, "\(grouped.raw)")
            expectNoContent(try await h.call(.post, "/v1/service/conversations/\(group)/members", token: key, json: ["user_id": dan.id]))
            #expect(try await h.show(ben, direct)["request"] == .bool(false))
            #expect(try await h.show(cat, group)["request"] == .bool(false))
            #expect(try await h.show(dan, group)["request"] == .bool(false))
            // Ann adding Ben herself (strangers but for the service's direct
            // conversation, which is accepted) is no request either; a
            // stranger she adds is.
            let eve = try await h.signUp("eve")
            let own = try await h.group(ann, members: [ben, eve])
            #expect(try await h.show(ben, own)["request"] == .bool(false))
            #expect(try await h.show(eve, own)["request"] == .bool(true))
            // An invite is accepted by whoever takes it.
            let invite = try await h.call(.post, "/v1/conversations/\(group)/invites", token: ann.token, json: [:])
            let code = try #require(invite.body["invite"]["code"].string, "\(invite.raw)")
            let fay = try await h.signUp("fay")
            #expect(try await h.call(.post, "/v1/invites/\(code)/accept", token: fay.token).status == .ok)
            #expect(try await h.show(fay, group)["request"] == .bool(false))
        }
    }

    @Test("parley serve takes --chat-requests on and PARLEY_CHAT_REQUESTS, and refuses anything but on or off")
    func flag() async throws {
        let database = try await TestDatabase()
        let path = database.configuration.databasePath
        let refused = try await runParley(["serve", "--database", path, "--chat-requests", "maybe"])
        #expect(refused.status != 0 && refused.output.contains("chat requests must be 'on' or 'off'"), "\(refused.output)")
        for (arguments, environment) in [(["--chat-requests", "on"], [String: String]()), ([], ["PARLEY_CHAT_REQUESTS": "on"])] {
            let server = try await ServerProcess.start(database: path, arguments: arguments, environment: environment)
            defer { server.terminate() }
            let h = Harness(port: server.port)
            let suffix = UUID().uuidString.prefix(6).lowercased()
            let mallory = try await h.signUp("mallory\(suffix)")
            let bob = try await h.signUp("bob\(suffix)")
            let (bobSocket, _) = try await h.socket(bob)
            let direct = try await h.direct(mallory, bob)
            #expect(try await h.show(bob, direct)["request"] == .bool(true), "\(arguments) \(environment)")
            // The review's finding: a stranger who pulls Bob into a
            // conversation learns nothing of his presence from it.
            let presence = try await h.call(.get, "/v1/users/bob\(suffix)", token: mallory.token)
            #expect(presence.body["online"] == .bool(false) && presence.body["last_seen_ts"] == .null, "\(presence.raw)")
            _ = try await h.call(.post, "/v1/conversations/\(direct)/accept", token: bob.token)
            #expect(try await h.call(.get, "/v1/users/bob\(suffix)", token: mallory.token).body["online"] == .bool(true))
            await bobSocket.close()
        }
    }
}
