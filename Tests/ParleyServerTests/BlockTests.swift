import Foundation
import Testing

/// Blocking over real sockets against a live server: the routes, and what a
/// block stops (and does not stop) between two users, in both directions.
@Suite("Blocking", .timeLimit(.minutes(2)))
struct BlockTests {
    /// Who blocks whom: a block acts in both directions, so the tests run
    /// with either user as the blocker.
    enum Direction: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case aliceBlocksBob, bobBlocksAlice
        var testDescription: String { self == .aliceBlocksBob ? "alice blocks bob" : "bob blocks alice" }
        func blocker(_ alice: TestUser, _ bob: TestUser) -> (blocker: TestUser, blocked: TestUser) {
            self == .aliceBlocksBob ? (alice, bob) : (bob, alice)
        }
    }

    /// Alice, Bob and Carol in one group, then a block between Alice and Bob.
    static func groupWithBlock(
        _ h: Harness, _ direction: Direction
    ) async throws -> (alice: TestUser, bob: TestUser, carol: TestUser, group: String) {
        let alice = try await h.signUp("alice")
        let bob = try await h.signUp("bob")
        let carol = try await h.signUp("carol")
        let group = try await h.group(alice, members: [bob, carol])
        let (blocker, blocked) = direction.blocker(alice, bob)
        expectNoContent(try await h.call(.put, "/v1/blocks/\(blocked.id)", token: blocker.token))
        return (alice, bob, carol, group)
    }

    // MARK: Routes

    @Test("PUT, GET and DELETE /v1/blocks: idempotent, most recent first, only the caller's own blocks")
    func routes() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob", displayName: "Bob Builder")
            let carol = try await h.signUp("carol")
            let dave = try await h.signUp("dave")

            #expect(try await h.blockList(alice) == [])
            expectNoContent(try await h.call(.put, "/v1/blocks/\(bob.id)", token: alice.token))
            try await waitForClock(toPass: nowMillis())
            expectNoContent(try await h.call(.put, "/v1/blocks/\(carol.id)", token: alice.token))
            try await waitForClock(toPass: nowMillis())
            // Again: 204, and it changes nothing (bob stays the older block).
            expectNoContent(try await h.call(.put, "/v1/blocks/\(bob.id)", token: alice.token))

            let listed = try await h.call(.get, "/v1/blocks", token: alice.token)
            #expect(listed.status == .ok)
            #expect(listed.body.keys == ["users"])
            #expect(
                listed.body["users"]
                    == .array([
                        .object(["id": .string(carol.id), "handle": .string("carol"), "display_name": .string("carol")]),
                        .object(["id": .string(bob.id), "handle": .string("bob"), "display_name": .string("Bob Builder")]),
                    ]), "got \(listed.raw)")
            // Nobody sees who blocked them.
            #expect(try await h.blockList(bob) == [])

            expectNoContent(try await h.call(.delete, "/v1/blocks/\(bob.id)", token: alice.token))
            expectNoContent(try await h.call(.delete, "/v1/blocks/\(bob.id)", token: alice.token), "not blocked any more:")
            expectNoContent(try await h.call(.delete, "/v1/blocks/\(dave.id)", token: alice.token), "never blocked:")
            #expect(try await h.blockList(alice) == [carol.id])
            // Blocked again: now the most recent.
            try await waitForClock(toPass: nowMillis())
            expectNoContent(try await h.call(.put, "/v1/blocks/\(bob.id)", token: alice.token))
            #expect(try await h.blockList(alice) == [bob.id, carol.id])

            // Refusals.
            for id in [unknownOpaqueID(), "not-an-id"] {
                expectError(try await h.call(.put, "/v1/blocks/\(id)", token: alice.token), .notFound, "not_found", "PUT \(id):")
                expectError(try await h.call(.delete, "/v1/blocks/\(id)", token: alice.token), .notFound, "not_found", "DELETE \(id):")
            }
            expectError(try await h.call(.put, "/v1/blocks/\(alice.id)", token: alice.token), .badRequest, "invalid_request", "yourself:")
            expectError(try await h.call(.get, "/v1/blocks"), .unauthorized, "unauthorized")
            expectError(try await h.call(.put, "/v1/blocks/\(bob.id)"), .unauthorized, "unauthorized")
            expectError(try await h.call(.delete, "/v1/blocks/\(bob.id)"), .unauthorized, "unauthorized")
            #expect(try await h.blockList(alice) == [bob.id, carol.id], "the refused calls changed nothing")
        }
    }

    // MARK: Direct conversations

    @Test("a block refuses the direct conversation to both: opening it, and sending into it over the socket and over HTTP", arguments: Direction.allCases)
    func directConversation(_ direction: Direction) async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let before = try await h.send(alice, conversation, "before the block", clientID: "pre")
            let (aliceSocket, _) = try await h.socket(alice)
            let (bobSocket, _) = try await h.socket(bob)
            let (blocker, blocked) = direction.blocker(alice, bob)
            expectNoContent(try await h.call(.put, "/v1/blocks/\(blocked.id)", token: blocker.token))

            // Opening it: refused to both, though it exists.
            for (owner, other) in [(alice, bob), (bob, alice)] {
                let reply = try await h.call(.post, "/v1/conversations", token: owner.token, json: ["kind": "direct", "with": other.id])
                expectError(reply, .forbidden, "blocked", "\(owner.handle) opening it:")
            }

            // Sending over the socket: error blocked, with re.
            for (socket, user) in [(aliceSocket, alice), (bobSocket, bob)] {
                try await socket.send(["type": "send", "id": "s-\(user.handle)", "conversation_id": conversation, "text": "hello?", "client_id": "new-\(user.handle)"])
                let refused = try await socket.next(type: "error")
                #expect(refused["re"].string == "s-\(user.handle)", "got \(refused)")
                #expect(refused["code"].string == "blocked", "got \(refused)")
                #expect(!(refused["message"].string ?? "").isEmpty)
            }
            // Sending over HTTP: 403 blocked.
            for user in [alice, bob] {
                let reply = try await h.call(
                    .post, "/v1/conversations/\(conversation)/messages", token: user.token, json: ["text": "hello?", "client_id": "http-\(user.handle)"])
                expectError(reply, .forbidden, "blocked", "\(user.handle) sending over HTTP:")
            }

            // A retry of a client_id stored before the block gets the original.
            let retry = try await h.call(
                .post, "/v1/conversations/\(conversation)/messages", token: alice.token, json: ["text": "before the block", "client_id": "pre"])
            #expect(retry.status == .ok, "got \(retry.status.code) \(retry.raw)")
            #expect(retry.body["duplicate"].bool == true)
            #expect(retry.body["message"]["id"] == before["id"])
            #expect(retry.body["message"]["seq"].int == 1)
            try await aliceSocket.send(["type": "send", "id": "again", "conversation_id": conversation, "text": "before the block", "client_id": "pre"])
            let ack = try await aliceSocket.next(type: "ack")
            #expect(ack["re"].string == "again")
            #expect(ack["duplicate"].bool == true)
            #expect(ack["message_id"] == before["id"])
            #expect(ack["seq"].int == 1)

            // Nothing was delivered (the pong comes first) and nothing stored.
            try await aliceSocket.expectAlive()
            try await bobSocket.expectAlive()
            for user in [alice, bob] {
                #expect(try await h.messages(user, conversation).map { $0["seq"].int ?? 0 } == [1], "history of \(user.handle)")
            }
            // The conversation itself is unchanged: both are still its members.
            let shown = try await h.show(blocked, conversation)
            #expect(shown["members"].array.compactMap { $0["user"]["id"].string } == [alice.id, bob.id])
            #expect(shown["last_seq"].int == 1)
            await aliceSocket.close()
            await bobSocket.close()
        }
    }

    @Test("a block also refuses a direct conversation that does not exist yet, and creates nothing")
    func directNotYetCreated() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            expectNoContent(try await h.call(.put, "/v1/blocks/\(alice.id)", token: bob.token))
            expectError(
                try await h.call(.post, "/v1/conversations", token: alice.token, json: ["kind": "direct", "with": bob.id]), .forbidden, "blocked")
            expectError(
                try await h.call(.post, "/v1/conversations", token: bob.token, json: ["kind": "direct", "with": alice.id]), .forbidden, "blocked")
            #expect(try await h.listIDs(alice).isEmpty)
            #expect(try await h.listIDs(bob).isEmpty)
            // Unblocked: it can be created.
            expectNoContent(try await h.call(.delete, "/v1/blocks/\(alice.id)", token: bob.token))
            let created = try await h.call(.post, "/v1/conversations", token: alice.token, json: ["kind": "direct", "with": bob.id])
            #expect(created.status == .created, "got \(created.status.code) \(created.raw)")
        }
    }

    // MARK: Groups

    @Test("in a group, both stay members and both still get each other's messages", arguments: Direction.allCases)
    func groupsGoOn(_ direction: Direction) async throws {
        try await Harness.live { h in
            let (alice, bob, carol, group) = try await Self.groupWithBlock(h, direction)
            let (aliceSocket, _) = try await h.socket(alice)
            let (bobSocket, _) = try await h.socket(bob)
            let (carolSocket, _) = try await h.socket(carol)

            #expect(try await h.show(carol, group)["members"].array.compactMap { $0["user"]["id"].string } == [alice.id, bob.id, carol.id])

            try await aliceSocket.send(["type": "send", "id": "a", "conversation_id": group, "text": "from alice", "client_id": "a1"])
            let ack = try await aliceSocket.next(type: "ack")
            #expect(ack["duplicate"].bool == false && ack["seq"].int == 1, "got \(ack)")
            for socket in [bobSocket, carolSocket] {
                let message = try await socket.next(type: "message")["message"]
                #expect(message["text"].string == "from alice" && message["sender"]["id"].string == alice.id)
            }
            let fromBob = try await h.send(bob, group, "from bob")
            #expect(fromBob["seq"].int == 2)
            for socket in [aliceSocket, carolSocket] {
                let message = try await socket.next(type: "message")["message"]
                #expect(message["text"].string == "from bob" && message["sender"]["id"].string == bob.id)
            }
            #expect(try await h.messages(carol, group).count == 2)
            for socket in [aliceSocket, bobSocket, carolSocket] { await socket.close() }
        }
    }

    // MARK: Presence

    @Test("while blocked, a first session is announced to other contacts but not to the other of the two", arguments: Direction.allCases)
    func presenceHiddenFromTheOther(_ direction: Direction) async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            _ = try await h.group(alice, members: [bob, carol])
            _ = try await h.direct(alice, bob)
            let (blocker, blocked) = direction.blocker(alice, bob)
            expectNoContent(try await h.call(.put, "/v1/blocks/\(blocked.id)", token: blocker.token))

            let (aliceSocket, _) = try await h.socket(alice, ignoring: [])
            let (carolSocket, _) = try await h.socket(carol, ignoring: [])
            #expect(try await aliceSocket.nextPresence() == presenceEvent(carol, online: true))

            let (bobSocket, _) = try await h.socket(bob, ignoring: [])
            #expect(try await carolSocket.nextPresence(skippingLateOnline: [alice.id]) == presenceEvent(bob, online: true))
            await aliceSocket.expectSilence()
            // Nor does bob hear of alice (carol's may come late: she was online first).
            await bobSocket.expectQuiet(skippingLateOnline: [carol.id])

            // Pulled, it is hidden both ways; carol sees both.
            #expect(try await h.pullPresence("bob", as: alice) == pulledPresence(bob, online: false, lastSeen: nil))
            #expect(try await h.pullPresence("alice", as: bob) == pulledPresence(alice, online: false, lastSeen: nil))
            #expect(try await h.pullPresence("bob", as: carol)["online"].bool == true)
            try await aliceSocket.send(["type": "presence", "id": "q", "user_ids": [bob.id, carol.id]])
            #expect(
                try await aliceSocket.next(type: "presence_state")["users"]
                    == .array([presenceEntry(bob.id, online: false, lastSeen: nil), presenceEntry(carol.id, online: true, lastSeen: nil)]))

            await bobSocket.close()
            let offline = try await carolSocket.nextPresence(skippingLateOnline: [alice.id])
            #expect(offline["user_id"].string == bob.id && offline["online"].bool == false, "got \(offline)")
            await aliceSocket.expectSilence()
            // Even offline, bob's last_seen_ts stays hidden from alice.
            #expect(try await h.pullPresence("bob", as: alice) == pulledPresence(bob, online: false, lastSeen: nil))
            await aliceSocket.close()
            await carolSocket.close()
        }
    }

    @Test("blocking someone online in a shared conversation turns each offline for the other at once", arguments: Direction.allCases)
    func blockAnnouncesOffline(_ direction: Direction) async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob, carol])
            let (aliceSocket, _) = try await h.socket(alice, ignoring: [])
            let (bobSocket, _) = try await h.socket(bob, ignoring: [])
            #expect(try await aliceSocket.nextPresence() == presenceEvent(bob, online: true))
            #expect(try await h.membersOnline(group, as: alice) == ["alice=true", "bob=true", "carol=false"])

            let (blocker, blocked) = direction.blocker(alice, bob)
            expectNoContent(try await h.call(.put, "/v1/blocks/\(blocked.id)", token: blocker.token))
            #expect(try await aliceSocket.nextPresence() == presenceEvent(bob, online: false, lastSeen: nil))
            #expect(try await bobSocket.nextPresence(skippingLateOnline: [alice.id]) == presenceEvent(alice, online: false, lastSeen: nil))

            // Blocking again changes nothing and announces nothing.
            expectNoContent(try await h.call(.put, "/v1/blocks/\(blocked.id)", token: blocker.token))
            await aliceSocket.expectSilence()
            await bobSocket.expectSilence()

            // members[].online: false between the two, true for a third.
            #expect(try await h.membersOnline(group, as: alice) == ["alice=true", "bob=false", "carol=false"])
            #expect(try await h.membersOnline(group, as: bob) == ["alice=false", "bob=true", "carol=false"])
            #expect(try await h.membersOnline(group, as: carol) == ["alice=true", "bob=true", "carol=false"])
            #expect(try await h.pullPresence("bob", as: alice) == pulledPresence(bob, online: false, lastSeen: nil))
            #expect(try await h.pullPresence("alice", as: bob) == pulledPresence(alice, online: false, lastSeen: nil))

            // carol comes online after the block, and hears of bob's close; alice does not.
            let (carolSocket, _) = try await h.socket(carol, ignoring: [])
            #expect(try await aliceSocket.nextPresence() == presenceEvent(carol, online: true))
            #expect(try await bobSocket.nextPresence() == presenceEvent(carol, online: true))
            await bobSocket.close()
            let offline = try await carolSocket.nextPresence(skippingLateOnline: [alice.id, bob.id])
            #expect(offline["user_id"].string == bob.id && offline["online"].bool == false && offline["last_seen_ts"].int != nil, "got \(offline)")
            await aliceSocket.expectSilence()
            await aliceSocket.close()
            await carolSocket.close()
        }
    }

    @Test("blocking someone who is offline announces nothing")
    func blockWhileOffline() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            _ = try await h.group(alice, members: [bob, carol])
            let (aliceSocket, _) = try await h.socket(alice, ignoring: [])
            // bob is offline: neither alice (blocker) nor anyone hears anything.
            expectNoContent(try await h.call(.put, "/v1/blocks/\(bob.id)", token: alice.token))
            await aliceSocket.expectSilence()
            // The socket does get presence: carol's, who is not blocked.
            let (carolSocket, _) = try await h.socket(carol)
            #expect(try await aliceSocket.nextPresence() == presenceEvent(carol, online: true))
            await carolSocket.close()
            await aliceSocket.close()
        }
    }

    // MARK: Typing

    @Test("typing is not relayed between the two in a group, and still reaches the others", arguments: Direction.allCases)
    func typingStops(_ direction: Direction) async throws {
        try await Harness.live { h in
            let (alice, bob, carol, group) = try await Self.groupWithBlock(h, direction)
            let (aliceSocket, _) = try await h.socket(alice)
            let (bobSocket, _) = try await h.socket(bob)
            let (carolSocket, _) = try await h.socket(carol)

            try await aliceSocket.send(["type": "typing", "conversation_id": group])
            #expect(try await carolSocket.next(type: "typing") == typingEvent(group, alice))
            try await bobSocket.expectAlive()
            try await aliceSocket.expectAlive()

            try await bobSocket.send(["type": "typing", "conversation_id": group])
            #expect(try await carolSocket.next(type: "typing") == typingEvent(group, bob))
            try await aliceSocket.expectAlive()
            try await bobSocket.expectAlive()
            for socket in [aliceSocket, bobSocket, carolSocket] { await socket.close() }
        }
    }

    // MARK: Unblocking

    @Test("unblocking restores the direct conversation, presence (each gets the other's) and typing", arguments: Direction.allCases)
    func unblockRestores(_ direction: Direction) async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let direct = try await h.direct(alice, bob)
            let group = try await h.group(alice, members: [bob, carol])
            let (blocker, blocked) = direction.blocker(alice, bob)
            expectNoContent(try await h.call(.put, "/v1/blocks/\(blocked.id)", token: blocker.token))
            let (aliceSocket, _) = try await h.socket(alice, ignoring: [])
            let (bobSocket, _) = try await h.socket(bob, ignoring: [])
            // Blocked: bob's coming online was not announced to alice.
            await aliceSocket.expectSilence()

            expectNoContent(try await h.call(.delete, "/v1/blocks/\(blocked.id)", token: blocker.token))
            #expect(try await aliceSocket.nextPresence() == presenceEvent(bob, online: true))
            #expect(try await bobSocket.nextPresence() == presenceEvent(alice, online: true))

            // The direct conversation opens again (the same one, 200).
            for (owner, other) in [(alice, bob), (bob, alice)] {
                let reply = try await h.call(.post, "/v1/conversations", token: owner.token, json: ["kind": "direct", "with": other.id])
                #expect(reply.status == .ok, "\(owner.handle): got \(reply.status.code) \(reply.raw)")
                #expect(reply.body["conversation"]["id"].string == direct)
            }
            // Sending works both ways.
            try await aliceSocket.send(["type": "send", "id": "s", "conversation_id": direct, "text": "friends again", "client_id": "f1"])
            let ack = try await aliceSocket.next(type: "ack")
            #expect(ack["re"].string == "s" && ack["seq"].int == 1 && ack["duplicate"].bool == false, "got \(ack)")
            #expect(try await bobSocket.next(type: "message")["message"]["text"].string == "friends again")
            _ = try await h.send(bob, direct, "yes")
            #expect(try await aliceSocket.next(type: "message")["message"]["text"].string == "yes")
            // (Sent over HTTP, it reaches bob's own session too.)
            #expect(try await bobSocket.next(type: "message")["message"]["text"].string == "yes")

            // Typing is relayed again, in the direct conversation and the group.
            try await aliceSocket.send(["type": "typing", "conversation_id": direct])
            #expect(try await bobSocket.next(type: "typing") == typingEvent(direct, alice))
            try await bobSocket.send(["type": "typing", "conversation_id": group])
            #expect(try await aliceSocket.next(type: "typing") == typingEvent(group, bob))

            // Presence is visible again.
            #expect(try await h.membersOnline(direct, as: alice) == ["alice=true", "bob=true"])
            #expect(try await h.membersOnline(group, as: bob) == ["alice=true", "bob=true", "carol=false"])
            #expect(try await h.pullPresence("bob", as: alice) == pulledPresence(bob, online: true, lastSeen: nil))
            #expect(try await h.blockList(blocker) == [])
            await aliceSocket.close()
            await bobSocket.close()
        }
    }

    @Test("unblocking someone who is offline gives the unblocker their real last_seen_ts")
    func unblockWhileOffline() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            _ = try await h.group(alice, members: [bob, carol])
            expectNoContent(try await h.call(.put, "/v1/blocks/\(bob.id)", token: alice.token))
            let (aliceSocket, _) = try await h.socket(alice, ignoring: [])
            let (carolSocket, _) = try await h.socket(carol, ignoring: [])
            #expect(try await aliceSocket.nextPresence() == presenceEvent(carol, online: true))

            // bob comes and goes: carol hears of it, alice does not.
            let (bobSocket, _) = try await h.socket(bob)
            #expect(try await carolSocket.nextPresence(skippingLateOnline: [alice.id]) == presenceEvent(bob, online: true))
            await bobSocket.close()
            let offline = try await carolSocket.nextPresence()
            let seen = try #require(offline["last_seen_ts"].int, "got \(offline)")
            await aliceSocket.expectSilence()

            expectNoContent(try await h.call(.delete, "/v1/blocks/\(bob.id)", token: alice.token))
            #expect(try await aliceSocket.nextPresence() == presenceEvent(bob, online: false, lastSeen: seen))
            #expect(try await h.pullPresence("bob", as: alice) == pulledPresence(bob, online: false, lastSeen: seen))
            // carol's view never changed.
            await carolSocket.expectSilence()
            await aliceSocket.close()
            await carolSocket.close()
        }
    }

    @Test("when both blocked each other, one unblock leaves the other block in force")
    func mutualBlocks() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let direct = try await h.direct(alice, bob)
            expectNoContent(try await h.call(.put, "/v1/blocks/\(bob.id)", token: alice.token))
            expectNoContent(try await h.call(.put, "/v1/blocks/\(alice.id)", token: bob.token))
            let (aliceSocket, _) = try await h.socket(alice, ignoring: [])
            let (bobSocket, _) = try await h.socket(bob, ignoring: [])

            expectNoContent(try await h.call(.delete, "/v1/blocks/\(bob.id)", token: alice.token))
            #expect(try await h.blockList(alice) == [])
            #expect(try await h.blockList(bob) == [alice.id])
            expectError(
                try await h.call(.post, "/v1/conversations", token: alice.token, json: ["kind": "direct", "with": bob.id]), .forbidden, "blocked")
            expectError(
                try await h.call(.post, "/v1/conversations/\(direct)/messages", token: alice.token, json: ["text": "hi", "client_id": "x"]),
                .forbidden, "blocked")
            #expect(try await h.pullPresence("bob", as: alice) == pulledPresence(bob, online: false, lastSeen: nil))
            await aliceSocket.expectSilence()
            await bobSocket.expectSilence()

            // The second unblock restores it all.
            expectNoContent(try await h.call(.delete, "/v1/blocks/\(alice.id)", token: bob.token))
            #expect(try await aliceSocket.nextPresence() == presenceEvent(bob, online: true))
            #expect(try await bobSocket.nextPresence() == presenceEvent(alice, online: true))
            let reopened = try await h.call(.post, "/v1/conversations", token: alice.token, json: ["kind": "direct", "with": bob.id])
            #expect(reopened.status == .ok, "got \(reopened.status.code) \(reopened.raw)")
            _ = try await h.send(alice, direct, "hi again")
            await aliceSocket.close()
            await bobSocket.close()
        }
    }
}

// MARK: - Helpers

/// A relayed `typing` event, every field and no other.
func typingEvent(_ conversation: String, _ typer: TestUser) -> JSON {
    .object(["type": .string("typing"), "conversation_id": .string(conversation), "user_id": .string(typer.id)])
}

extension Harness {
    /// The ids in `GET /v1/blocks` for `user`, in order.
    func blockList(_ user: TestUser, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
        let reply = try await call(.get, "/v1/blocks", token: user.token, sourceLocation: sourceLocation)
        guard reply.status == .ok else { throw TestFailure("GET /v1/blocks answered \(reply.status) \(reply.raw)") }
        return reply.body["users"].array.map { $0["id"].string ?? "?" }
    }
}
