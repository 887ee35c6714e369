import Foundation
import HTTPTypes
import Testing

/// `/v1/conversations`, `/v1/conversations/{id}` and membership, against a
/// live server.
@Suite("HTTP routes: conversations and membership", .timeLimit(.minutes(2)))
struct ConversationRouteTests {
    // MARK: Helpers

    /// The conversation object has exactly the contract's keys.
    func expectShape(
        _ conversation: JSON, kind: String, hasOwner: Bool, hasLastMessage: Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var keys: Set<String> = [
            "id", "kind", "title", "members", "last_seq", "read_seq", "unread", "request", "created_ts", "last_activity_ts",
        ]
        if hasOwner { keys.insert("owner_id") }
        if hasLastMessage { keys.insert("last_message") }
        #expect(conversation.keys == keys, "keys \(conversation.keys.sorted())", sourceLocation: sourceLocation)
        #expect(isOpaqueID(conversation["id"]), sourceLocation: sourceLocation)
        #expect(conversation["kind"].string == kind, sourceLocation: sourceLocation)
        #expect(conversation["request"] == .bool(false), "chat requests are off by default", sourceLocation: sourceLocation)
        #expect(!conversation["members"].array.isEmpty, sourceLocation: sourceLocation)
        for member in conversation["members"].array {
            #expect(member.keys == ["user", "online", "read_seq", "role"], "member \(member)", sourceLocation: sourceLocation)
            let roles: Set<String> = kind == "direct" ? ["member"] : ["owner", "admin", "member"]
            #expect(roles.contains(member["role"].string ?? ""), "member \(member)", sourceLocation: sourceLocation)
            #expect(member["online"].bool != nil, sourceLocation: sourceLocation)
        }
        for key in ["last_seq", "read_seq", "unread", "created_ts", "last_activity_ts"] {
            #expect(conversation[key].int != nil, "\(key) is \(conversation[key])", sourceLocation: sourceLocation)
        }
    }

    func memberIDs(_ conversation: JSON) -> [String] {
        conversation["members"].array.compactMap { $0["user"]["id"].string }
    }

    /// `last_activity_ts` descending, then `id` descending.
    func expectActivityOrder(_ conversations: [JSON], sourceLocation: SourceLocation = #_sourceLocation) {
        for (newer, older) in zip(conversations, conversations.dropFirst()) {
            let a = newer["last_activity_ts"].int ?? 0, b = older["last_activity_ts"].int ?? 0
            let inOrder = a > b || (a == b && (newer["id"].string ?? "") > (older["id"].string ?? ""))
            #expect(inOrder, "\(newer["id"]) (\(a)) listed before \(older["id"]) (\(b))", sourceLocation: sourceLocation)
        }
    }

    func list(_ h: Harness, _ user: TestUser, query: String = "limit=100") async throws -> RouteReply {
        let reply = try await h.call(.get, "/v1/conversations?\(query)", token: user.token)
        #expect(reply.status == .ok, "list: \(reply.raw)")
        return reply
    }

    // MARK: POST /v1/conversations, direct

    @Test("a direct conversation is created with 201, then found with 200 from either side, always the same")
    func directCreate() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice", displayName: "Alice Liddell")
            let bob = try await h.signUp("Bob")
            let before = nowMillis()
            let first = try await h.call(.post, "/v1/conversations", token: alice.token, json: ["kind": "direct", "with": bob.id])
            #expect(first.status == .created)
            #expect(first.body.keys == ["conversation"])
            let conversation = first.body["conversation"]
            expectShape(conversation, kind: "direct", hasOwner: false, hasLastMessage: false)
            #expect(conversation["title"] == .null)
            #expect(conversation["members"] == .array([
                .object(["user": .object(["id": .string(alice.id), "handle": .string("alice"), "display_name": .string("Alice Liddell")]), "online": .bool(false), "read_seq": .number(0), "role": .string("member")]),
                .object(["user": .object(["id": .string(bob.id), "handle": .string("Bob"), "display_name": .string("Bob")]), "online": .bool(false), "read_seq": .number(0), "role": .string("member")]),
            ]))
            #expect(conversation["last_seq"].int == 0)
            #expect(conversation["read_seq"].int == 0)
            #expect(conversation["unread"].int == 0)
            let created = try #require(conversation["created_ts"].int)
            #expect(created >= before && created <= nowMillis())
            #expect(conversation["last_activity_ts"].int == created)

            let again = try await h.call(.post, "/v1/conversations", token: alice.token, json: ["kind": "direct", "with": bob.id])
            #expect(again.status == .ok)
            #expect(again.body["conversation"] == conversation)

            let fromBob = try await h.call(.post, "/v1/conversations", token: bob.token, json: ["kind": "direct", "with": alice.id])
            #expect(fromBob.status == .ok)
            #expect(fromBob.body["conversation"]["id"] == conversation["id"])
            #expect(memberIDs(fromBob.body["conversation"]) == [alice.id, bob.id])

            #expect(try await h.listIDs(alice) == [conversation["id"].string!])
            #expect(try await h.listIDs(bob) == [conversation["id"].string!])
        }
    }

    @Test("opening a direct conversation refuses a missing or bad kind, a missing with, yourself (400) and unknown users (404)")
    func directErrors() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let bad: [(String, [String: Any])] = [
                ("with missing", ["kind": "direct"]),
                ("with null", ["kind": "direct", "with": NSNull()]),
                ("with not a string", ["kind": "direct", "with": 42]),
                ("with yourself", ["kind": "direct", "with": alice.id]),
                ("kind missing", ["with": bob.id]),
                ("kind unknown", ["kind": "channel", "with": bob.id]),
                ("kind in another case", ["kind": "Direct", "with": bob.id]),
                ("kind not a string", ["kind": 1, "with": bob.id]),
            ]
            for (label, body) in bad {
                expectError(try await h.call(.post, "/v1/conversations", token: alice.token, json: body), .badRequest, "invalid_request", label)
            }
            for raw in ["", "direct", "[]"] {
                expectError(try await h.call(.post, "/v1/conversations", token: alice.token, rawBody: raw), .badRequest, "invalid_request", "body '\(raw)'")
            }
            for (label, other) in [("unknown well-formed id", unknownOpaqueID()), ("malformed id", "bob"), ("empty id", ""),
                                   ("an id with a bad character", String(repeating: "!", count: 22))] {
                let reply = try await h.call(.post, "/v1/conversations", token: alice.token, json: ["kind": "direct", "with": other])
                expectError(reply, .notFound, "not_found", label)
            }
            expectError(
                try await h.call(.post, "/v1/conversations", json: ["kind": "direct", "with": bob.id]), .unauthorized, "unauthorized")
            // Nothing was created.
            #expect(try await h.listIDs(alice).isEmpty)
            #expect(try await h.listIDs(bob).isEmpty)
        }
    }

    // MARK: POST /v1/conversations, group

    @Test("a group is created with 201: trimmed title, the caller owner and first, listed members in order, duplicates ignored")
    func groupCreate() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let reply = try await h.call(
                .post, "/v1/conversations", token: alice.token,
                json: ["kind": "group", "title": "  Tea party ", "members": [carol.id, bob.id, carol.id, alice.id, bob.id]])
            #expect(reply.status == .created)
            #expect(reply.body.keys == ["conversation"])
            let group = reply.body["conversation"]
            expectShape(group, kind: "group", hasOwner: true, hasLastMessage: false)
            #expect(group["title"].string == "Tea party")
            #expect(group["owner_id"].string == alice.id)
            #expect(memberIDs(group) == [alice.id, carol.id, bob.id])
            #expect(group["last_seq"].int == 0)
            #expect(group["read_seq"].int == 0)
            #expect(group["unread"].int == 0)
            #expect(group["created_ts"].int == group["last_activity_ts"].int)

            // Every member sees it, with their own read mark at 0.
            let asBob = try await h.show(bob, group["id"].string!)
            #expect(asBob["owner_id"].string == alice.id)
            #expect(asBob["read_seq"].int == 0)
            #expect(memberIDs(asBob) == [alice.id, carol.id, bob.id])
            #expect(try await h.listIDs(carol) == [group["id"].string!])

            // members is optional; a group may hold only its owner.
            let solo = try await h.call(.post, "/v1/conversations", token: bob.token, json: ["kind": "group", "title": "Notes"])
            #expect(solo.status == .created)
            #expect(memberIDs(solo.body["conversation"]) == [bob.id])
            #expect(solo.body["conversation"]["owner_id"].string == bob.id)
            let empty = try await h.call(
                .post, "/v1/conversations", token: bob.token, json: ["kind": "group", "title": String(repeating: "t", count: 100), "members": []])
            #expect(empty.status == .created)
            #expect(empty.body["conversation"]["title"].string == String(repeating: "t", count: 100))
        }
    }

    @Test("group creation refuses bad titles and members (400) and unknown members (404), creating nothing")
    func groupErrors() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let bad: [(String, [String: Any])] = [
                ("title missing", ["kind": "group", "members": [bob.id]]),
                ("title null", ["kind": "group", "title": NSNull(), "members": [bob.id]]),
                ("title empty", ["kind": "group", "title": "", "members": [bob.id]]),
                ("title blank", ["kind": "group", "title": "  \n\t ", "members": [bob.id]]),
                ("title of 101 characters", ["kind": "group", "title": String(repeating: "t", count: 101), "members": [bob.id]]),
                ("title with a control character", ["kind": "group", "title": "Tea\u{1}party", "members": [bob.id]]),
                ("title not a string", ["kind": "group", "title": 7, "members": [bob.id]]),
                ("members not an array", ["kind": "group", "title": "Team", "members": bob.id]),
                ("members not strings", ["kind": "group", "title": "Team", "members": [1, 2]]),
            ]
            for (label, body) in bad {
                expectError(try await h.call(.post, "/v1/conversations", token: alice.token, json: body), .badRequest, "invalid_request", label)
            }
            for (label, members) in [("an unknown well-formed id", [bob.id, unknownOpaqueID()]), ("a malformed id", [bob.id, "nope"])] {
                let reply = try await h.call(
                    .post, "/v1/conversations", token: alice.token, json: ["kind": "group", "title": "Team", "members": members])
                expectError(reply, .notFound, "not_found", label)
            }
            #expect(try await h.listIDs(alice).isEmpty)
            #expect(try await h.listIDs(bob).isEmpty)
        }
    }

    @Test("a group over the member limit is refused with 403 at creation and when adding")
    func groupMemberLimit() async throws {
        var database = try await TestDatabase()
        database.configuration.limits.maxGroupMembers = 3
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let dave = try await h.signUp("dave")
            let tooMany = try await h.call(
                .post, "/v1/conversations", token: alice.token, json: ["kind": "group", "title": "Big", "members": [bob.id, carol.id, dave.id]])
            expectError(tooMany, .forbidden, "forbidden", "four people")
            #expect(try await h.listIDs(alice).isEmpty)
            // Repeated ids, and the caller's own, are one person each.
            let repeated = try await h.call(
                .post, "/v1/conversations", token: alice.token,
                json: ["kind": "group", "title": "Small", "members": [bob.id, bob.id, alice.id, carol.id]])
            #expect(repeated.status == .created)
            #expect(memberIDs(repeated.body["conversation"]) == [alice.id, bob.id, carol.id])

            // Exactly at the limit is fine; one more is refused.
            let group = try await h.group(alice, members: [bob, carol])
            let add = try await h.call(.post, "/v1/conversations/\(group)/members", token: alice.token, json: ["user_id": dave.id])
            expectError(add, .forbidden, "forbidden", "adding to a full group")
            #expect(memberIDs(try await h.show(alice, group)) == [alice.id, bob.id, carol.id])
            #expect(try await h.listIDs(dave).isEmpty)
            // Re-adding someone already in a full group is not an addition.
            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/members", token: alice.token, json: ["user_id": bob.id]))

            // Room again after someone leaves.
            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/members/\(carol.id)", token: alice.token))
            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/members", token: alice.token, json: ["user_id": dave.id]))
            #expect(memberIDs(try await h.show(alice, group)) == [alice.id, bob.id, dave.id])
        }
    }

    // MARK: GET /v1/conversations

    @Test("messages sent in quick succession into several conversations list them in the order they were sent, for sender and recipient")
    func listFollowsSendingOrder() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            var groups: [String] = []
            for title in ["one", "two", "three"] { groups.append(try await h.group(alice, title: title, members: [bob])) }
            let (socket, _) = try await h.socket(alice)
            // Pipelined on one socket, so that they commit together, often
            // within one millisecond; a new order each round.
            for round in 0..<4 {
                let order = round.isMultiple(of: 2) ? groups.shuffled() : groups.reversed()
                for (index, conversation) in order.enumerated() {
                    try await socket.send([
                        "type": "send", "id": "r\(round)-\(index)", "conversation_id": conversation, "text": "message \(index)",
                        "client_id": "r\(round)-\(index)",
                    ])
                }
                for _ in order { _ = try await socket.next(type: "ack") }
                let expected = Array(order.reversed())
                #expect(try await h.listIDs(alice) == expected, "round \(round)")
                #expect(try await h.listIDs(bob) == expected, "round \(round)")
            }
            await socket.close()
        }
    }

    @Test("the list is newest activity first, and a message moves an older conversation to the front")
    func listOrder() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            _ = try await h.direct(alice, bob)
            _ = try await h.group(alice, title: "Solo", members: [])
            _ = try await h.direct(alice, carol)

            let first = try await list(h, alice).body["conversations"].array
            #expect(first.count == 3)
            expectActivityOrder(first)
            let oldest = try #require(first.last?["id"].string)
            let newest = try #require(first.compactMap { $0["last_activity_ts"].int }.max())

            try await waitForClock(toPass: newest)
            let message = try await h.send(alice, oldest, "bump")
            let second = try await list(h, alice).body["conversations"].array
            #expect(second.count == 3)
            expectActivityOrder(second)
            #expect(second.first?["id"].string == oldest)
            #expect(second.first?["last_activity_ts"] == message["ts"])
            #expect(second.first?["last_message"]["id"] == message["id"])
            // The other two keep their relative order.
            #expect(second.dropFirst().map { $0["id"] } == first.dropLast().map { $0["id"] })

            // Membership changes do not count as activity.
            let solo = try #require(first.first { $0["kind"].string == "group" })
            let soloID = try #require(solo["id"].string)
            expectNoContent(try await h.call(.post, "/v1/conversations/\(soloID)/members", token: alice.token, json: ["user_id": bob.id]))
            #expect(try await h.show(alice, soloID)["last_activity_ts"] == solo["last_activity_ts"])
            #expect(try await h.listIDs(alice) == second.compactMap { $0["id"].string })
        }
    }

    @Test("paging with limit and next_cursor visits every conversation once; next_cursor is null on the last page")
    func listPagination() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            for index in 1...7 {
                _ = try await h.group(alice, title: "Group \(index)", members: [])
            }
            let full = try await list(h, alice)
            #expect(full.body.keys == ["conversations", "next_cursor"])
            #expect(full.body["next_cursor"] == .null)
            let all = full.body["conversations"].array
            #expect(all.count == 7)
            expectActivityOrder(all)
            let allIDs = all.compactMap { $0["id"].string }
            #expect(Set(allIDs).count == 7)

            for (limit, sizes) in [(3, [3, 3, 1]), (1, [1, 1, 1, 1, 1, 1, 1]), (6, [6, 1]), (7, [7]), (2, [2, 2, 2, 1])] {
                var seen: [String] = []
                var pageSizes: [Int] = []
                var cursor: String?
                repeat {
                    var query = "limit=\(limit)"
                    if let cursor { query += "&cursor=\(cursor)" }
                    let page = try await list(h, alice, query: query)
                    #expect(page.body.keys == ["conversations", "next_cursor"])
                    let conversations = page.body["conversations"].array
                    pageSizes.append(conversations.count)
                    seen += conversations.compactMap { $0["id"].string }
                    cursor = page.body["next_cursor"].string
                    if cursor == nil { #expect(page.body["next_cursor"] == .null) }
                } while cursor != nil && pageSizes.count <= 10
                #expect(pageSizes == sizes, "limit \(limit)")
                #expect(seen == allIDs, "limit \(limit)")
            }

            // The default page and an over-large limit hold everything here.
            let unlimited = try await list(h, alice, query: "limit=100000")
            #expect(unlimited.body["conversations"].array.compactMap { $0["id"].string } == allIDs)
            let plain = try await h.call(.get, "/v1/conversations", token: alice.token)
            #expect(plain.status == .ok)
            #expect(plain.body["conversations"].array.compactMap { $0["id"].string } == allIDs)
            #expect(plain.body["next_cursor"] == .null)
        }
    }

    @Test("the list refuses a bad cursor and a limit that is not a positive integer with 400")
    func listErrors() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            _ = try await h.group(alice, title: "One", members: [])
            _ = try await h.group(alice, title: "Two", members: [])
            let cursors = ["garbage", "", "!!!!", base64URL(Data("123:short".utf8)), base64URL(Data("abc:\(unknownOpaqueID())".utf8))]
            for cursor in cursors {
                expectError(
                    try await h.call(.get, "/v1/conversations?cursor=\(cursor)", token: alice.token), .badRequest, "invalid_request",
                    "cursor '\(cursor)'")
            }
            for limit in ["0", "-1", "abc", "1.5", "", "99999999999999999999"] {
                expectError(
                    try await h.call(.get, "/v1/conversations?limit=\(limit)", token: alice.token), .badRequest, "invalid_request",
                    "limit '\(limit)'")
            }
            expectError(try await h.call(.get, "/v1/conversations"), .unauthorized, "unauthorized")
        }
    }

    @Test("each user lists only their own conversations, with their own read_seq, unread and client_id, and every member's read mark")
    func listIsPerUser() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let ab = try await h.direct(alice, bob)
            let solo = try await h.group(alice, title: "Solo", members: [])
            let bc = try await h.direct(bob, carol)
            #expect(Set(try await h.listIDs(alice)) == [ab, solo])
            #expect(Set(try await h.listIDs(bob)) == [ab, bc])
            #expect(Set(try await h.listIDs(carol)) == [bc])

            try await h.send(alice, ab, "one", clientID: "a-1")
            try await h.send(alice, ab, "two", clientID: "a-2")
            expectNoContent(try await h.call(.post, "/v1/conversations/\(ab)/read", token: bob.token, json: ["seq": 1]))

            func entry(_ user: TestUser) async throws -> JSON {
                let conversations = try await list(h, user).body["conversations"].array
                return try #require(conversations.first { $0["id"].string == ab })
            }
            let asAlice = try await entry(alice)
            #expect(asAlice["last_seq"].int == 2)
            #expect(asAlice["read_seq"].int == 2)
            #expect(asAlice["unread"].int == 0)
            #expect(asAlice["last_message"]["client_id"].string == "a-2")
            let asBob = try await entry(bob)
            #expect(asBob["last_seq"].int == 2)
            #expect(asBob["read_seq"].int == 1)
            #expect(asBob["unread"].int == 1)
            #expect(asBob["last_message"]["text"].string == "two")
            #expect(!asBob["last_message"].keys.contains("client_id"))
            // Everyone sees every member's read mark (for read ticks).
            for view in [asAlice, asBob] {
                let marks = Dictionary(uniqueKeysWithValues: view["members"].array.map { ($0["user"]["id"].string!, $0["read_seq"].int!) })
                #expect(marks == [alice.id: 2, bob.id: 1])
            }
            // The list and GET agree.
            #expect(try await h.show(alice, ab) == asAlice)
            #expect(try await h.show(bob, ab) == asBob)
        }
    }

    // MARK: GET /v1/conversations/{id}

    @Test("GET a conversation answers members with 200 and everyone else with one identical 404")
    func showConversation() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let ab = try await h.direct(alice, bob)
            let message = try await h.send(alice, ab, "hello", clientID: "a-1")

            let reply = try await h.call(.get, "/v1/conversations/\(ab)", token: alice.token)
            #expect(reply.status == .ok)
            #expect(reply.body.keys == ["conversation"])
            let conversation = reply.body["conversation"]
            expectShape(conversation, kind: "direct", hasOwner: false, hasLastMessage: true)
            #expect(conversation["id"].string == ab)
            #expect(conversation["last_seq"].int == 1)
            #expect(conversation["last_message"] == message)
            #expect(conversation["last_activity_ts"] == message["ts"])
            let asBob = try await h.show(bob, ab)
            #expect(asBob["last_message"]["id"] == message["id"])
            #expect(asBob["last_message"].keys == ["id", "conversation_id", "seq", "sender", "text", "ts"])

            var bodies: [String: String] = [:]
            let probes: [(String, TestUser, String)] = [
                ("non-member", carol, "/v1/conversations/\(ab)"),
                ("nonexistent id", alice, "/v1/conversations/\(unknownOpaqueID())"),
                ("garbage id", alice, "/v1/conversations/garbage"),
                ("22 bad characters", alice, "/v1/conversations/\(String(repeating: "!", count: 22))"),
                ("a message id", alice, "/v1/conversations/\(message["id"].string!)"),
                ("a user id", alice, "/v1/conversations/\(bob.id)"),
                ("non-member, history", carol, "/v1/conversations/\(ab)/messages"),
                ("nonexistent id, history", alice, "/v1/conversations/\(unknownOpaqueID())/messages"),
            ]
            for (label, user, path) in probes {
                let reply = try await h.call(.get, path, token: user.token)
                expectError(reply, .notFound, "not_found", label)
                bodies[label] = reply.raw
            }
            #expect(Set(bodies.values).count == 1, "different 404 bodies: \(bodies)")
            expectError(try await h.call(.get, "/v1/conversations/\(ab)"), .unauthorized, "unauthorized")
        }
    }

    // MARK: POST /v1/conversations/{id}/members

    @Test("the owner adds a member with 204; the newcomer has nothing unread, reads the history; adding again changes nothing")
    func addMember() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob])
            try await h.send(alice, group, "one")
            try await h.send(bob, group, "two")
            try await h.send(alice, group, "three")

            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/members", token: alice.token, json: ["user_id": carol.id]))
            let asCarol = try await h.show(carol, group)
            #expect(memberIDs(asCarol) == [alice.id, bob.id, carol.id])
            #expect(asCarol["last_seq"].int == 3)
            #expect(asCarol["read_seq"].int == 3)
            #expect(asCarol["unread"].int == 0)
            #expect(asCarol["owner_id"].string == alice.id)
            #expect(try await h.messages(carol, group).map { $0["text"].string } == ["one", "two", "three"])
            #expect(try await h.listIDs(carol) == [group])
            // Bob's mark is untouched by the addition.
            #expect(try await h.show(bob, group)["read_seq"].int == 2)

            try await h.send(bob, group, "four")
            #expect(try await h.show(carol, group)["unread"].int == 1)

            // Adding an existing member (or the owner) is a 204 and changes nothing.
            let before = try await h.show(carol, group)
            for user in [carol, bob, alice] {
                expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/members", token: alice.token, json: ["user_id": user.id]))
            }
            #expect(try await h.show(carol, group) == before)
            #expect(before["read_seq"].int == 3)
            #expect(before["unread"].int == 1)
        }
    }

    @Test("adding is refused: 403 for a non-owner or a direct conversation, 404 for an unknown user or a non-member caller, 400 without user_id")
    func addMemberErrors() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob])
            let direct = try await h.direct(alice, bob)
            let path = "/v1/conversations/\(group)/members"

            expectError(try await h.call(.post, path, token: bob.token, json: ["user_id": carol.id]), .forbidden, "forbidden", "non-owner")
            expectError(
                try await h.call(.post, "/v1/conversations/\(direct)/members", token: alice.token, json: ["user_id": carol.id]),
                .forbidden, "forbidden", "direct conversation")
            expectError(try await h.call(.post, path, token: alice.token, json: ["user_id": unknownOpaqueID()]), .notFound, "not_found", "unknown user")
            expectError(try await h.call(.post, path, token: alice.token, json: ["user_id": "carol"]), .notFound, "not_found", "malformed user id")
            expectError(try await h.call(.post, path, token: carol.token, json: ["user_id": carol.id]), .notFound, "not_found", "caller not a member")
            expectError(
                try await h.call(.post, "/v1/conversations/\(unknownOpaqueID())/members", token: alice.token, json: ["user_id": carol.id]),
                .notFound, "not_found", "nonexistent conversation")
            expectError(try await h.call(.post, path, token: alice.token, json: [:]), .badRequest, "invalid_request", "user_id missing")
            expectError(try await h.call(.post, path, token: alice.token, json: ["user_id": 3]), .badRequest, "invalid_request", "user_id not a string")
            expectError(try await h.call(.post, path, token: alice.token, rawBody: ""), .badRequest, "invalid_request", "no body")
            expectError(try await h.call(.post, path, json: ["user_id": carol.id]), .unauthorized, "unauthorized")

            // Nothing changed.
            #expect(memberIDs(try await h.show(alice, group)) == [alice.id, bob.id])
            #expect(memberIDs(try await h.show(alice, direct)) == [alice.id, bob.id])
            #expect(try await h.listIDs(carol).isEmpty)
        }
    }

    // MARK: DELETE /v1/conversations/{id}/members/{user_id}

    @Test("the owner removes anyone, a member removes themself; others get 403, non-members 404, and the removed lose access")
    func removeMember() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob, carol])
            try await h.send(carol, group, "hi from carol")
            func path(_ user: TestUser) -> String { "/v1/conversations/\(group)/members/\(user.id)" }

            expectError(try await h.call(.delete, path(carol), token: bob.token), .forbidden, "forbidden", "non-owner removes another")
            expectError(try await h.call(.delete, path(alice), token: bob.token), .forbidden, "forbidden", "non-owner removes the owner")
            #expect(memberIDs(try await h.show(alice, group)) == [alice.id, bob.id, carol.id])

            expectNoContent(try await h.call(.delete, path(carol), token: alice.token), "owner removes carol")
            #expect(memberIDs(try await h.show(bob, group)) == [alice.id, bob.id])

            // Carol has lost access everywhere, with the not-a-member 404.
            let conversation = "/v1/conversations/\(group)"
            let refusals: [(String, HTTPRequest.Method, String, [String: Any]?)] = [
                ("show", .get, conversation, nil),
                ("history", .get, conversation + "/messages?after=0", nil),
                ("send", .post, conversation + "/messages", ["text": "still here?", "client_id": "c-2"]),
                ("read", .post, conversation + "/read", ["seq": 1]),
                ("add", .post, conversation + "/members", ["user_id": carol.id]),
                ("leave", .delete, path(carol), nil),
            ]
            for (label, method, route, body) in refusals {
                let reply = try await h.call(method, route, token: carol.token, json: body)
                expectError(reply, .notFound, "not_found", "removed member: \(label)")
                #expect(reply.body["error"]["message"].string == "conversation not found", "\(label): \(reply.raw)")
            }
            #expect(try await h.listIDs(carol).isEmpty)
            // Her refused send was not stored.
            #expect(try await h.messages(alice, group).map { $0["text"].string } == ["hi from carol"])

            expectError(try await h.call(.delete, path(carol), token: alice.token), .notFound, "not_found", "removing a non-member")
            expectError(
                try await h.call(.delete, "/v1/conversations/\(group)/members/\(unknownOpaqueID())", token: alice.token),
                .notFound, "not_found", "removing an unknown user")
            expectError(
                try await h.call(.delete, "/v1/conversations/\(group)/members/nobody", token: alice.token),
                .notFound, "not_found", "removing a malformed id")
            expectError(
                try await h.call(.delete, "/v1/conversations/\(unknownOpaqueID())/members/\(bob.id)", token: alice.token),
                .notFound, "not_found", "nonexistent conversation")
            expectError(try await h.call(.delete, path(bob)), .unauthorized, "unauthorized")

            // Bob leaves on his own.
            expectNoContent(try await h.call(.delete, path(bob), token: bob.token), "bob leaves")
            expectError(try await h.call(.get, conversation, token: bob.token), .notFound, "not_found", "after leaving")
            let remaining = try await h.show(alice, group)
            #expect(memberIDs(remaining) == [alice.id])
            #expect(remaining["owner_id"].string == alice.id)
        }
    }

    @Test("nobody changes a direct conversation's members: 403")
    func directMembersAreFixed() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let direct = try await h.direct(alice, bob)
            expectError(
                try await h.call(.delete, "/v1/conversations/\(direct)/members/\(bob.id)", token: alice.token),
                .forbidden, "forbidden", "removing the other")
            expectError(
                try await h.call(.delete, "/v1/conversations/\(direct)/members/\(alice.id)", token: alice.token),
                .forbidden, "forbidden", "leaving")
            #expect(memberIDs(try await h.show(bob, direct)) == [alice.id, bob.id])
        }
    }

    @Test("when the owner leaves, the longest-standing remaining member becomes owner")
    func ownerLeaves() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let carol = try await h.signUp("carol")
            let group = try await h.group(alice, members: [bob, carol])
            // Bob leaves and comes back: he now joined after Carol, although
            // he signed up first and was listed first.
            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/members/\(bob.id)", token: bob.token))
            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/members", token: alice.token, json: ["user_id": bob.id]))
            #expect(memberIDs(try await h.show(alice, group)) == [alice.id, carol.id, bob.id])

            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/members/\(alice.id)", token: alice.token))
            let after = try await h.show(bob, group)
            #expect(after["owner_id"].string == carol.id)
            #expect(memberIDs(after) == [carol.id, bob.id])
            expectError(try await h.call(.get, "/v1/conversations/\(group)", token: alice.token), .notFound, "not_found")

            // The new owner has the owner's rights, the old one none.
            expectError(
                try await h.call(.post, "/v1/conversations/\(group)/members", token: bob.token, json: ["user_id": alice.id]),
                .forbidden, "forbidden", "bob is not the owner")
            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/members", token: carol.token, json: ["user_id": alice.id]))
            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/members/\(bob.id)", token: carol.token))
            let final = try await h.show(alice, group)
            #expect(final["owner_id"].string == carol.id)
            #expect(memberIDs(final) == [carol.id, alice.id])
        }
    }
}
