import Foundation
import Testing

/// A block holds in groups too (docs/PROTOCOL.md, "Blocking holds in groups
/// too"): nobody brings into a group someone a block separates them from,
/// and in a group both are already in, the blocker sees the blocked
/// sender's messages marked `sender_blocked`, outside their unread count.
@Suite("Blocking in groups", .timeLimit(.minutes(3)))
struct GroupBlockTests {
    /// The security review's attack, on the real binary: Bob blocks Mallory;
    /// Mallory makes groups with Bob in them, and adds him back after he leaves.
    @Test("the block bypass through groups is refused on the real binary: no group lands in Bob's list, nothing reaches him")
    func bypassRefused() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let bob = try await h.signUp("bob")
        let mallory = try await h.signUp("mallory")
        let carol = try await h.signUp("carol")
        let (bobSocket, _) = try await h.socket(bob)
        expectNoContent(try await h.call(.put, "/v1/blocks/\(mallory.id)", token: bob.token))

        for n in 1...20 {
            let reply = try await h.call(
                .post, "/v1/conversations", token: mallory.token,
                json: ["kind": "group", "title": "Hi Bob \(n)", "members": [carol.id, bob.id]])
            expectError(reply, .forbidden, "blocked", "group \(n):")
        }
        // Mallory's own group with Carol; Bob cannot be added to it.
        let group = try await h.group(mallory, members: [carol])
        expectError(
            try await h.call(.post, "/v1/conversations/\(group)/members", token: mallory.token, json: ["user_id": bob.id]),
            .forbidden, "blocked")
        #expect(try await h.listIDs(bob) == [], "nothing landed in Bob's list")
        #expect(try await h.listIDs(mallory) == [group], "the refused groups were not created")
        await bobSocket.expectSilence(for: .milliseconds(500))
        // And Bob's presence stays hidden from Mallory.
        let presence = try await h.call(.get, "/v1/users/bob", token: mallory.token)
        #expect(presence.body["online"] == .bool(false) && presence.body["last_seen_ts"] == .null, "\(presence.raw)")
        await bobSocket.close()
    }

    @Test("either way round: the blocked one cannot bring the blocker in, the blocker cannot bring the blocked one in")
    func bothDirections() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            expectNoContent(try await h.call(.put, "/v1/blocks/\(bob.id)", token: alice.token))
            for (actor, subject) in [(alice, bob), (bob, alice)] {
                expectError(
                    try await h.call(
                        .post, "/v1/conversations", token: actor.token, json: ["kind": "group", "title": "T", "members": [subject.id]]),
                    .forbidden, "blocked", "\(actor.handle) creating a group with \(subject.handle):")
                let group = try await h.group(actor, members: [carol])
                expectError(
                    try await h.call(.post, "/v1/conversations/\(group)/members", token: actor.token, json: ["user_id": subject.id]),
                    .forbidden, "blocked", "\(actor.handle) adding \(subject.handle):")
                let members = try await h.show(actor, group)["members"].array.compactMap { $0["user"]["id"].string }
                #expect(members == [actor.id, carol.id], "the refused add changed nothing")
            }
            // Carol, whom nobody blocked, may put both into one group.
            let both = try await h.group(carol, members: [alice, bob])
            #expect(try await h.show(carol, both)["members"].array.count == 3)
            // After an unblock, they can again.
            expectNoContent(try await h.call(.delete, "/v1/blocks/\(bob.id)", token: alice.token))
            _ = try await h.group(bob, members: [alice])
        }
    }

    @Test("in a shared group, the blocker's sessions get the blocked sender's message marked sender_blocked; others get it plain")
    func foldedLive() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let mallory = try await h.signUp("mallory")
            let group = try await h.group(alice, members: [bob, mallory])
            expectNoContent(try await h.call(.put, "/v1/blocks/\(mallory.id)", token: bob.token))
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            let (alice1, _) = try await h.socket(alice)
            let (mallory1, _) = try await h.socket(mallory)

            try await mallory1.send(["type": "send", "id": "m1", "conversation_id": group, "text": "psst", "client_id": "m-1"])
            let ack = try await mallory1.next(type: "ack")
            #expect(ack["seq"] == .number(1))
            for socket in [bob1, bob2] {
                let event = try await socket.next(type: "message")
                #expect(event["message"]["text"] == .string("psst"))
                #expect(event["message"]["sender_blocked"] == .bool(true), "\(event)")
                #expect(event["message"]["client_id"] == .null, "client_id is the sender's")
            }
            let plain = try await alice1.next(type: "message")
            #expect(plain["message"].keys.contains("sender_blocked") == false, "\(plain)")

            // Bob's messages reach Mallory plain: the flag is the blocker's view only.
            try await bob1.send(["type": "send", "id": "b1", "conversation_id": group, "text": "hello all", "client_id": "b-1"])
            _ = try await bob1.next(type: "ack")
            let toMallory = try await mallory1.next(type: "message")
            #expect(toMallory["message"].keys.contains("sender_blocked") == false)
            // Seqs stay continuous for everyone.
            #expect(toMallory["message"]["seq"] == .number(2))
            for socket in [bob1, bob2, alice1, mallory1] { await socket.close() }
        }
    }

    @Test("history and HTTP mark the blocked sender's messages for the blocker, who does not count them unread; unblocking clears it")
    func foldedHistoryAndUnread() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let mallory = try await h.signUp("mallory")
            let group = try await h.group(alice, members: [bob, mallory])
            expectNoContent(try await h.call(.put, "/v1/blocks/\(mallory.id)", token: bob.token))
            try await h.send(mallory, group, "one")
            try await h.send(alice, group, "two")
            try await h.send(mallory, group, "three")

            let bobView = try await h.messages(bob, group)
            #expect(bobView.map { $0["seq"] } == [.number(1), .number(2), .number(3)], "seqs stay continuous")
            #expect(bobView.map { $0["sender_blocked"] } == [.bool(true), .null, .bool(true)])
            let before = try await h.call(.get, "/v1/conversations/\(group)/messages?before=2&limit=1", token: bob.token)
            #expect(before.body["messages"].array.first?["sender_blocked"] == .bool(true), "\(before.raw)")
            #expect(try await h.messages(alice, group).allSatisfy { $0["sender_blocked"] == .null }, "Alice blocked nobody")

            let shown = try await h.show(bob, group)
            #expect(shown["unread"] == .number(1), "only Alice's message counts: \(shown)")
            #expect(shown["last_message"]["sender_blocked"] == .bool(true))
            #expect(try await h.show(alice, group)["unread"] == .number(1), "Alice sent seq 2; Mallory's 3 counts for her")
            let listed = try await h.call(.get, "/v1/conversations", token: bob.token)
            #expect(listed.body["conversations"].array.first?["unread"] == .number(1))

            let (socket, ready) = try await h.socket(bob)
            let mark = ready["conversations"].array.first { $0["id"].string == group }
            #expect(mark?["unread"] == .number(1), "ready: \(ready)")
            // Reading up to 2 leaves Mallory's 3 unread for nobody: 0.
            try await socket.send(["type": "read", "id": "r", "conversation_id": group, "seq": 2])
            _ = try await socket.next(type: "ok")
            #expect(try await h.show(bob, group)["unread"] == .number(0))
            await socket.close()

            expectNoContent(try await h.call(.delete, "/v1/blocks/\(mallory.id)", token: bob.token))
            #expect(try await h.messages(bob, group).allSatisfy { $0["sender_blocked"] == .null })
            #expect(try await h.show(bob, group)["unread"] == .number(1), "unblocked, Mallory's unread message counts again")
        }
    }

    @Test("a block made while the group is cached on the write path takes effect on the next message")
    func blockAfterMessages() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let group = try await h.group(alice, members: [bob])
            let (bobSocket, _) = try await h.socket(bob)
            try await h.send(alice, group, "before")
            #expect(try await bobSocket.next(type: "message")["message"].keys.contains("sender_blocked") == false)
            expectNoContent(try await h.call(.put, "/v1/blocks/\(alice.id)", token: bob.token))
            try await h.send(alice, group, "after")
            #expect(try await bobSocket.next(type: "message")["message"]["sender_blocked"] == .bool(true))
            expectNoContent(try await h.call(.delete, "/v1/blocks/\(alice.id)", token: bob.token))
            try await h.send(alice, group, "again")
            #expect(try await bobSocket.next(type: "message")["message"].keys.contains("sender_blocked") == false)
            await bobSocket.close()
        }
    }
}
