import Foundation
import NIOCore
import NIOPosix
import Testing

/// Presence over real sockets against a live server: the events a user's
/// contacts get when the user's first session opens and last one closes, and
/// the pull forms (`GET /v1/users/{handle}`, the `presence` frame,
/// `members[].online`).
///
/// Presence announcements are sent after a database query, so a socket opened
/// just after a contact's first session may still get that contact's
/// `online:true` late. That is correct (it matches the contact's real state),
/// so sockets that may see one pass the contact's id as `skippingLateOnline`.
@Suite("Presence", .timeLimit(.minutes(2)))
struct PresenceTests {
    // MARK: Events

    @Test("the first session announces online to contacts; more sessions and closing all but the last announce nothing; the last close announces offline")
    func firstOpenLastClose() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            _ = try await h.direct(alice, bob)
            let (watcher, _) = try await h.socket(alice, ignoring: [])

            let (bob1, _) = try await h.socket(bob, ignoring: [])
            #expect(try await watcher.nextPresence() == presenceEvent(bob, online: true))

            let (bob2, _) = try await h.socket(bob, ignoring: [])
            await watcher.expectSilence()
            #expect(try await h.pullPresence("bob", as: alice)["online"].bool == true)

            await bob1.close()
            await watcher.expectSilence()
            let stillOnline = try await h.pullPresence("bob", as: alice)
            #expect(stillOnline["online"].bool == true && stillOnline["last_seen_ts"].isNull, "one session is still open: \(stillOnline)")

            let before = nowMillis()
            await bob2.close()
            let offline = try await watcher.nextPresence()
            let after = nowMillis()
            let ts = try #require(offline["last_seen_ts"].int, "offline carries last_seen_ts: \(offline)")
            #expect((before...after).contains(ts), "last_seen_ts \(ts) is when the last session closed (\(before)…\(after))")
            #expect(offline == presenceEvent(bob, online: false, lastSeen: ts))
            // One event per change, nothing more.
            await watcher.expectSilence()
            await watcher.close()
        }
    }

    enum Ending: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case cleanClose, revokedToken, droppedConnection
        var testDescription: String {
            switch self {
            case .cleanClose: "a clean close"
            case .revokedToken: "a revoked token (4401)"
            case .droppedConnection: "a TCP connection dropped without a close frame"
            }
        }
    }

    @Test("offline is announced however the last session ends", arguments: Ending.allCases)
    func offlineHoweverItEnds(_ ending: Ending) async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            _ = try await h.direct(alice, bob)
            let (watcher, _) = try await h.socket(alice, ignoring: [])

            let before: Int
            switch ending {
            case .cleanClose:
                let (socket, _) = try await h.socket(bob)
                #expect(try await watcher.nextPresence() == presenceEvent(bob, online: true))
                before = nowMillis()
                await socket.close()
            case .revokedToken:
                let (socket, _) = try await h.socket(bob)
                #expect(try await watcher.nextPresence() == presenceEvent(bob, online: true))
                before = nowMillis()
                expectNoContent(try await h.call(.delete, "/v1/tokens/current", token: bob.token))
                #expect(try await socket.closed().code == 4401)
            case .droppedConnection:
                let raw = try await RawSession.open(port: h.port, token: bob.token)
                #expect(try await watcher.nextPresence() == presenceEvent(bob, online: true))
                before = nowMillis()
                try await raw.drop()
            }

            let offline = try await watcher.nextPresence()
            let after = nowMillis()
            let ts = try #require(offline["last_seen_ts"].int, "offline carries last_seen_ts: \(offline)")
            #expect((before...after).contains(ts), "last_seen_ts \(ts) is when the session ended (\(before)…\(after))")
            #expect(offline == presenceEvent(bob, online: false, lastSeen: ts))

            let pulled = try await h.pullPresence("bob", as: alice)
            #expect(pulled["online"].bool == false)
            #expect(pulled["last_seen_ts"].int == ts)
            await watcher.close()
        }
    }

    @Test("a user's own sessions never hear of the user's presence, and a stranger hears nothing")
    func ownSessionsAndStrangers() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let stranger = try await h.signUp("stranger")
            _ = try await h.direct(alice, bob)
            let (strangerSocket, _) = try await h.socket(stranger, ignoring: [])
            let (contact, _) = try await h.socket(bob, ignoring: [])

            let (alice1, _) = try await h.socket(alice, ignoring: [])
            // The contact hears of it …
            #expect(try await contact.nextPresence() == presenceEvent(alice, online: true))
            // … the session that came online does not.
            await alice1.expectQuiet(skippingLateOnline: [bob.id])

            let (alice2, _) = try await h.socket(alice, ignoring: [])
            await alice2.expectQuiet(skippingLateOnline: [bob.id])
            await alice1.expectQuiet(skippingLateOnline: [bob.id])
            await alice1.close()
            await alice2.expectQuiet(skippingLateOnline: [bob.id])

            await alice2.close()
            let offline = try await contact.nextPresence()
            #expect(offline["user_id"].string == alice.id && offline["online"].bool == false && offline["last_seen_ts"].int != nil, "got \(offline)")

            // The stranger was online all along and heard of neither bob nor alice.
            await strangerSocket.expectSilence()
            await contact.close()
            await strangerSocket.close()
        }
    }

    // MARK: Pull

    @Test("GET /v1/users/{handle}: live presence for a contact, case-insensitive lookup, hidden from a stranger, 404 for an unknown handle")
    func pullByHandle() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("Bob", displayName: "Bob Builder")
            let stranger = try await h.signUp("stranger")
            _ = try await h.direct(alice, bob)

            let neverSeen = try await h.pullPresence("bob", as: alice)
            #expect(neverSeen == pulledPresence(bob, handle: "Bob", displayName: "Bob Builder", online: false, lastSeen: nil))

            let (watcher, _) = try await h.socket(alice, ignoring: [])
            let (bobSocket, _) = try await h.socket(bob)
            #expect(try await watcher.nextPresence() == presenceEvent(bob, online: true))

            for handle in ["bob", "Bob", "BOB", "bOb"] {
                let online = try await h.pullPresence(handle, as: alice)
                #expect(online == pulledPresence(bob, handle: "Bob", displayName: "Bob Builder", online: true, lastSeen: nil), "for \(handle)")
            }
            // Yourself: visible.
            #expect(try await h.pullPresence("bob", as: bob)["online"].bool == true)
            // A stranger sees someone never seen, though bob (and alice) are online.
            #expect(
                try await h.pullPresence("BOB", as: stranger)
                    == pulledPresence(bob, handle: "Bob", displayName: "Bob Builder", online: false, lastSeen: nil))
            #expect(try await h.pullPresence("alice", as: stranger)["online"].bool == false)

            await bobSocket.close()
            let offline = try await watcher.nextPresence()
            let ts = try #require(offline["last_seen_ts"].int)
            #expect(
                try await h.pullPresence("bob", as: alice)
                    == pulledPresence(bob, handle: "Bob", displayName: "Bob Builder", online: false, lastSeen: ts))
            #expect(try await h.pullPresence("bob", as: bob)["last_seen_ts"].int == ts, "yourself: the real last_seen_ts")
            // Still hidden from the stranger after the close.
            #expect(
                try await h.pullPresence("bob", as: stranger)
                    == pulledPresence(bob, handle: "Bob", displayName: "Bob Builder", online: false, lastSeen: nil))

            // Unknown and malformed handles, and no token.
            for handle in ["nobody", "no", "bad!handle", String(repeating: "x", count: 40)] {
                expectError(try await h.call(.get, "/v1/users/\(handle)", token: alice.token), .notFound, "not_found", "handle \(handle):")
            }
            expectError(try await h.call(.get, "/v1/users/bob"), .unauthorized, "unauthorized")
            await watcher.close()
        }
    }

    @Test("the presence frame answers in the order asked, without duplicates, hiding strangers and unknown ids; at most 100 ids")
    func presenceFrame() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let dave = try await h.signUp("dave")
            _ = try await h.group(alice, members: [bob, carol])
            let (asker, _) = try await h.socket(alice, ignoring: [])

            // carol comes and goes: she is offline with a last_seen_ts.
            let (carolSocket, _) = try await h.socket(carol)
            #expect(try await asker.nextPresence() == presenceEvent(carol, online: true))
            await carolSocket.close()
            let carolSeen = try #require(try await asker.nextPresence()["last_seen_ts"].int)
            // bob is online; dave, a stranger, is online too.
            let (bobSocket, _) = try await h.socket(bob)
            #expect(try await asker.nextPresence() == presenceEvent(bob, online: true))
            let (daveSocket, _) = try await h.socket(dave)

            let unknown = unknownOpaqueID()
            try await asker.send([
                "type": "presence", "id": "p1", "user_ids": [bob.id, carol.id, bob.id, unknown, dave.id, alice.id, "not-an-id", carol.id],
            ])
            let state = try await asker.next(type: "presence_state")
            #expect(state.keys == ["type", "re", "users"])
            #expect(state["re"].string == "p1")
            #expect(
                state["users"]
                    == .array([
                        presenceEntry(bob.id, online: true, lastSeen: nil),
                        presenceEntry(carol.id, online: false, lastSeen: carolSeen),
                        presenceEntry(unknown, online: false, lastSeen: nil),
                        presenceEntry(dave.id, online: false, lastSeen: nil),
                        presenceEntry(alice.id, online: true, lastSeen: nil),
                        presenceEntry("not-an-id", online: false, lastSeen: nil),
                    ]))

            // An empty list is a valid question.
            try await asker.send(["type": "presence", "id": "p2", "user_ids": [String]()])
            let empty = try await asker.next(type: "presence_state")
            #expect(empty["re"].string == "p2" && empty["users"] == .array([]), "got \(empty)")

            // Exactly 100 is allowed, 101 is not.
            let hundred = (0..<100).map { _ in unknownOpaqueID() }
            try await asker.send(["type": "presence", "id": "p3", "user_ids": hundred])
            let full = try await asker.next(type: "presence_state")
            #expect(full["re"].string == "p3")
            #expect(full["users"].array.map { $0["user_id"].string ?? "?" } == hundred)
            try await asker.send(["type": "presence", "id": "p4", "user_ids": hundred + [bob.id]])
            let tooMany = try await asker.next(type: "error")
            #expect(tooMany["re"].string == "p4" && tooMany["code"].string == "invalid_request", "got \(tooMany)")

            // user_ids missing or not an array of strings.
            let malformed: [(String, [String: Any])] = [
                ("p5", ["type": "presence", "id": "p5"]),
                ("p6", ["type": "presence", "id": "p6", "user_ids": bob.id]),
                ("p7", ["type": "presence", "id": "p7", "user_ids": [1, 2]]),
            ]
            for (id, frame) in malformed {
                try await asker.send(frame)
                let error = try await asker.next(type: "error")
                #expect(error["re"].string == id && error["code"].string == "invalid_request", "for \(id): \(error)")
            }
            try await asker.expectAlive()
            for socket in [asker, bobSocket, daveSocket] { await socket.close() }
        }
    }

    @Test("last_seen_ts is stored: it survives a restart")
    func lastSeenSurvivesRestart() async throws {
        let database = try await TestDatabase()
        let configuration = database.configuration
        let (alice, bob, seen) = try await Harness.live(configuration) { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            _ = try await h.signUp("carol")
            _ = try await h.direct(alice, bob)
            let (watcher, _) = try await h.socket(alice, ignoring: [])
            let (bobSocket, _) = try await h.socket(bob)
            #expect(try await watcher.nextPresence() == presenceEvent(bob, online: true))
            await bobSocket.close()
            let seen = try #require(try await watcher.nextPresence()["last_seen_ts"].int)
            await watcher.close()
            return (alice, bob, seen)
        }
        try await Harness.live(configuration) { h in
            let pulled = try await h.pullPresence("bob", as: alice)
            #expect(pulled["online"].bool == false)
            #expect(pulled["last_seen_ts"].int == seen, "the last_seen_ts from before the restart: \(pulled)")
            let (socket, _) = try await h.socket(alice, ignoring: [])
            try await socket.send(["type": "presence", "id": "q", "user_ids": [bob.id]])
            #expect(try await socket.next(type: "presence_state")["users"] == .array([presenceEntry(bob.id, online: false, lastSeen: seen)]))
            await socket.close()
        }
    }

    @Test("members[].online in a conversation is live")
    func membersOnline() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob, carol])
            #expect(try await h.membersOnline(group, as: carol) == ["alice=false", "bob=false", "carol=false"])

            let (watcher, _) = try await h.socket(alice, ignoring: [])
            #expect(try await h.membersOnline(group, as: carol) == ["alice=true", "bob=false", "carol=false"])
            let (bobSocket, _) = try await h.socket(bob)
            #expect(try await watcher.nextPresence() == presenceEvent(bob, online: true))
            #expect(try await h.membersOnline(group, as: alice) == ["alice=true", "bob=true", "carol=false"])
            #expect(try await h.membersOnline(group, as: carol) == ["alice=true", "bob=true", "carol=false"])

            await bobSocket.close()
            _ = try await watcher.nextPresence()
            #expect(try await h.membersOnline(group, as: alice) == ["alice=true", "bob=false", "carol=false"])
            await watcher.close()
        }
    }
}

// MARK: - Helpers shared by the Presence, Blocking and Typing suites

/// A `presence` event as the server must send it, every field and no other.
func presenceEvent(_ user: TestUser, online: Bool, lastSeen: Int? = nil) -> JSON {
    .object([
        "type": .string("presence"), "user_id": .string(user.id), "online": .bool(online),
        "last_seen_ts": lastSeen.map { .number(Double($0)) } ?? .null,
    ])
}

/// One entry of `presence_state.users`.
func presenceEntry(_ userID: String, online: Bool, lastSeen: Int?) -> JSON {
    .object(["user_id": .string(userID), "online": .bool(online), "last_seen_ts": lastSeen.map { .number(Double($0)) } ?? .null])
}

/// The body of `GET /v1/users/{handle}`.
func pulledPresence(_ user: TestUser, handle: String? = nil, displayName: String? = nil, online: Bool, lastSeen: Int?) -> JSON {
    .object([
        "user": .object([
            "id": .string(user.id), "handle": .string(handle ?? user.handle), "display_name": .string(displayName ?? handle ?? user.handle),
        ]),
        "online": .bool(online),
        "last_seen_ts": lastSeen.map { .number(Double($0)) } ?? .null,
    ])
}

extension TestSocket {
    /// True for a `presence {online:true}` about one of `late`: a contact
    /// that was online before this socket opened, whose announcement may
    /// still have been on its way.
    fileprivate static func isLateOnline(_ frame: JSON, _ late: Set<String>) -> Bool {
        guard frame["type"].string == "presence", frame["online"].bool == true, frame["last_seen_ts"].isNull,
            let user = frame["user_id"].string
        else { return false }
        return late.contains(user)
    }

    /// The next frame, which must be a `presence` event (late online
    /// announcements about `late` skipped).
    func nextPresence(skippingLateOnline late: Set<String> = [], timeout: Duration = TestSocket.defaultTimeout) async throws -> JSON {
        while true {
            let frame = try await next(timeout: timeout)
            if Self.isLateOnline(frame, late) { continue }
            guard frame["type"].string == "presence" else { throw TestFailure("expected a 'presence' frame, got \(frame)") }
            return frame
        }
    }

    /// `expectSilence`, except for late online announcements about `late`.
    func expectQuiet(
        skippingLateOnline late: Set<String>, for duration: Duration = .milliseconds(300), sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let deadline = ContinuousClock.now + duration
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, let event = try? await nextEvent(timeout: remaining) else { return }
            if case .text(let text) = event, let frame = try? JSON.parse(text), Self.isLateOnline(frame, late) { continue }
            Issue.record("expected no frame, got \(event)", sourceLocation: sourceLocation)
            return
        }
    }
}

extension Harness {
    /// `GET /v1/users/{handle}` as `viewer`; must answer 200 with exactly
    /// `{user, online, last_seen_ts}`. Returns the body.
    func pullPresence(_ handle: String, as viewer: TestUser, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSON {
        let reply = try await call(.get, "/v1/users/\(handle)", token: viewer.token, sourceLocation: sourceLocation)
        guard reply.status == .ok else { throw TestFailure("GET /v1/users/\(handle) answered \(reply.status) \(reply.raw)") }
        #expect(reply.body.keys == ["user", "online", "last_seen_ts"], "body \(reply.raw)", sourceLocation: sourceLocation)
        return reply.body
    }

    /// The members of a conversation as `viewer` sees them, in order, as
    /// "handle=online".
    func membersOnline(_ conversation: String, as viewer: TestUser, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
        try await show(viewer, conversation, sourceLocation: sourceLocation)["members"].array.map { member in
            "\(member["user"]["handle"].string ?? "?")=\(member["online"].bool.map(String.init) ?? "\(member["online"])")"
        }
    }
}
