import Foundation
import Testing

/// The `typing` frame over real sockets against a live server: who gets it,
/// the per-conversation throttle, refusals, and that it is never stored.
@Suite("Typing", .timeLimit(.minutes(2)))
struct TypingTests {
    @Test("typing reaches every session of the other members, never the typer's own sessions, with no reply")
    func relayed() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let outsider = try await h.signUp("outsider")
            let group = try await h.group(alice, members: [bob, carol])
            let (alice1, _) = try await h.socket(alice)
            let (alice2, _) = try await h.socket(alice)
            let (bob1, _) = try await h.socket(bob)
            let (bob2, _) = try await h.socket(bob)
            let (carol1, _) = try await h.socket(carol)
            let (outsider1, _) = try await h.socket(outsider)

            // With an id: still no reply.
            try await alice1.send(["type": "typing", "id": "t1", "conversation_id": group])
            for socket in [bob1, bob2, carol1] {
                #expect(try await socket.next(type: "typing") == typingEvent(group, alice))
            }
            // The others have it, so it would be queued by now for the typer's
            // sessions too: the next frame there must be the pong.
            try await alice1.expectAlive()
            try await alice2.expectAlive()
            try await outsider1.expectAlive()
            // Exactly once per session.
            for socket in [bob1, bob2, carol1] { try await socket.expectAlive() }

            // Another member's typing reaches alice's sessions, and not bob's.
            try await bob2.send(["type": "typing", "conversation_id": group])
            for socket in [alice1, alice2, carol1] {
                #expect(try await socket.next(type: "typing") == typingEvent(group, bob))
            }
            try await bob1.expectAlive()
            try await bob2.expectAlive()
            for socket in [alice1, alice2, bob1, bob2, carol1, outsider1] { await socket.close() }
        }
    }

    @Test("a second typing within the interval is dropped silently; another conversation is not throttled; after the interval it is relayed again")
    func throttled() async throws {
        // Long enough that the suites running beside this one rarely stall
        // the machine for a whole interval (an attempt that was stalled is retried).
        let interval = Duration.milliseconds(1200)
        var database = try await TestDatabase()
        database.configuration.limits.typingInterval = interval
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            // Fresh conversations for each attempt (see below).
            var groups: [String] = []
            for n in 0..<(2 * Self.attempts) { groups.append(try await h.group(alice, title: "g\(n)", members: [bob])) }
            let (aliceSocket, _) = try await h.socket(alice)
            let (bobSocket, _) = try await h.socket(bob)

            // A stall of the machine longer than the interval between the
            // first typing and the next ones would make relaying them right:
            // such an attempt proves nothing, and the next one starts afresh.
            var concluded: (throttled: String, start: ContinuousClock.Instant)?
            for attempt in 0..<Self.attempts where concluded == nil {
                let (throttled, other) = (groups[2 * attempt], groups[2 * attempt + 1])
                let start = ContinuousClock.now
                try await aliceSocket.send(["type": "typing", "id": "first", "conversation_id": throttled])
                #expect(try await bobSocket.next(type: "typing") == typingEvent(throttled, alice))
                // Frames are handled in order: if the second or third were
                // relayed, it would reach bob before the other conversation's.
                try await aliceSocket.send(["type": "typing", "id": "second", "conversation_id": throttled])
                try await aliceSocket.send(["type": "typing", "id": "third", "conversation_id": throttled])
                try await aliceSocket.send(["type": "typing", "id": "other", "conversation_id": other])
                let next = try await bobSocket.next(type: "typing")
                let handledWithin = ContinuousClock.now - start
                guard handledWithin < interval else {
                    try await aliceSocket.expectAlive()
                    await Self.drain(bobSocket)
                    continue
                }
                concluded = (throttled, start)
                #expect(next == typingEvent(other, alice), "the dropped ones were relayed (all handled within \(handledWithin))")
                // Dropped silently: no error, no reply of any kind.
                try await aliceSocket.expectAlive()
            }
            let (throttled, start) = try #require(concluded, "the machine stalled for more than \(interval) in every attempt")

            // Another user is not throttled by alice's typing.
            try await bobSocket.send(["type": "typing", "conversation_id": throttled])
            #expect(try await aliceSocket.next(type: "typing") == typingEvent(throttled, bob))
            try await bobSocket.expectAlive()

            // After the interval, relayed again.
            try await Task.sleep(until: start + interval + .milliseconds(100))
            try await aliceSocket.send(["type": "typing", "conversation_id": throttled])
            #expect(try await bobSocket.next(type: "typing") == typingEvent(throttled, alice))
            try await aliceSocket.expectAlive()
            await aliceSocket.close()
            await bobSocket.close()
        }
    }

    @Test("the default interval is 2 s: typings 1 s and 1.7 s after a relayed one are dropped, one 2 s after is relayed")
    func defaultInterval() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            var groups: [String] = []
            for n in 0..<Self.attempts { groups.append(try await h.group(alice, title: "g\(n)", members: [bob])) }
            let (aliceSocket, _) = try await h.socket(alice)
            let (bobSocket, _) = try await h.socket(bob)

            var concluded = false
            attempts: for conversation in groups where !concluded {
                let sent = ContinuousClock.now
                try await aliceSocket.send(["type": "typing", "conversation_id": conversation])
                #expect(try await bobSocket.next(type: "typing") == typingEvent(conversation, alice))
                let received = ContinuousClock.now

                // Each is handled before the pong that follows it, so it
                // reached the server less than `handledBy` after the first was
                // sent; past 2 s (a stall), relaying it would be right.
                for (at, quiet) in [(Duration.seconds(1), Duration.milliseconds(300)), (.milliseconds(1_700), .milliseconds(200))] {
                    try await Task.sleep(until: sent + at)
                    try await aliceSocket.send(["type": "typing", "conversation_id": conversation])
                    try await aliceSocket.expectAlive()
                    let handledBy = ContinuousClock.now - sent
                    guard handledBy < .milliseconds(1_950) else {
                        await Self.drain(bobSocket)
                        continue attempts
                    }
                    if let frame = try? await bobSocket.next(timeout: quiet) {
                        Issue.record("a typing sent \(at) (handled within \(handledBy)) after the first relayed one was relayed too: \(frame)")
                    }
                }
                concluded = true

                // More than 2 s after the relayed one was admitted: relayed again.
                try await Task.sleep(until: received + .milliseconds(2_050))
                try await aliceSocket.send(["type": "typing", "conversation_id": conversation])
                #expect(try await bobSocket.next(type: "typing") == typingEvent(conversation, alice))
            }
            #expect(concluded, "the machine stalled for a second or more in every attempt")
            await aliceSocket.close()
            await bobSocket.close()
        }
    }

    static let attempts = 3

    /// Reads whatever is left on the socket.
    static func drain(_ socket: TestSocket) async {
        while (try? await socket.next(timeout: .milliseconds(300))) != nil {}
    }

    @Test("typing into a conversation one is not in answers not_found and reaches nobody; without conversation_id, invalid_request; never stored")
    func refusals() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let mallory = try await h.signUp("mallory")
            let direct = try await h.direct(alice, bob)
            let (aliceSocket, _) = try await h.socket(alice)
            let (bobSocket, _) = try await h.socket(bob)
            let (mallorySocket, _) = try await h.socket(mallory)

            try await mallorySocket.send(["type": "typing", "id": "m1", "conversation_id": direct])
            let notMember = try await mallorySocket.next(type: "error")
            #expect(notMember["re"].string == "m1" && notMember["code"].string == "not_found", "got \(notMember)")
            try await mallorySocket.send(["type": "typing", "id": "m2", "conversation_id": unknownOpaqueID()])
            let unknown = try await mallorySocket.next(type: "error")
            #expect(unknown["re"].string == "m2" && unknown["code"].string == "not_found", "got \(unknown)")
            #expect(unknown["message"] == notMember["message"], "not a member and unknown answer alike")
            try await mallorySocket.send(["type": "typing", "id": "m3", "conversation_id": "not-an-id"])
            let malformed = try await mallorySocket.next(type: "error")
            #expect(malformed["re"].string == "m3" && malformed["code"].string == "not_found", "got \(malformed)")
            // Nobody received anything.
            try await aliceSocket.expectAlive()
            try await bobSocket.expectAlive()

            for (id, frame) in [("m4", #"{"type":"typing","id":"m4"}"#), ("m5", #"{"type":"typing","id":"m5","conversation_id":42}"#)] {
                try await mallorySocket.sendText(frame)
                let error = try await mallorySocket.next(type: "error")
                #expect(error["re"].string == id && error["code"].string == "invalid_request", "for \(frame): \(error)")
            }
            try await aliceSocket.send(["type": "typing", "id": "a1"])
            let missing = try await aliceSocket.next(type: "error")
            #expect(missing["re"].string == "a1" && missing["code"].string == "invalid_request", "a member without conversation_id: \(missing)")
            try await mallorySocket.expectAlive()

            // A member's typing is relayed (so the silence above means
            // something), and nothing of it is stored.
            try await aliceSocket.send(["type": "typing", "conversation_id": direct])
            #expect(try await bobSocket.next(type: "typing") == typingEvent(direct, alice))
            try await mallorySocket.expectAlive()
            #expect(try await h.messages(alice, direct).isEmpty)
            let shown = try await h.show(bob, direct)
            #expect(shown["last_seq"].int == 0 && shown["unread"].int == 0, "got \(shown)")
            let (later, ready) = try await h.socket(bob)
            #expect(ready["conversations"][0]["last_seq"].int == 0)
            try await later.expectAlive()
            for socket in [aliceSocket, bobSocket, mallorySocket, later] { await socket.close() }
        }
    }
}
