import Foundation
import Testing

/// `GET /v1/users?q=`, the conversation list's cursor under activity, and
/// the bound on blocks, over HTTP.
@Suite("HTTP routes: search and the conversation list", .timeLimit(.minutes(2)))
struct PeopleRouteTests {
    @Test("search matches a case-insensitive prefix of handle or display name, at most 20, users only")
    func search() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice", displayName: "Alice Liddell")
            _ = try await h.signUp("Albert", displayName: "Bert")
            _ = try await h.signUp("zoe", displayName: "Älva")
            for index in 0..<22 { _ = try await h.signUp(String(format: "many%02d", index)) }

            func handles(_ query: String, token: String = alice.token) async throws -> [String] {
                let reply = try await h.call(.get, "/v1/users?\(query)", token: token)
                #expect(reply.status == .ok, "\(query): \(reply.raw)")
                #expect(reply.body.keys == ["users"])
                return reply.body["users"].array.compactMap { $0["handle"].string }
            }
            #expect(try await handles("q=AL") == ["Albert", "alice"])
            #expect(try await handles("q=alice%20l") == ["alice"])
            #expect(try await handles("q=%C3%A4l") == ["zoe"], "ä matches Ä")
            #expect(try await handles("q=bert") == ["Albert"])
            #expect(try await handles("q=many").count == 20)
            #expect(try await handles("q=many&limit=3") == ["many00", "many01", "many02"])
            #expect(try await handles("q=many&limit=500").count == 20)
            #expect(try await handles("q=nobody").isEmpty)
            #expect(try await handles("q=%20%20al%20") == ["Albert", "alice"], "surrounding blanks are trimmed")

            for (query, label) in [("", "no q"), ("q=", "empty q"), ("q=%20%20", "blank q"), ("q=\(String(repeating: "a", count: 65))", "long q"),
                                   ("q=al&limit=0", "limit 0"), ("q=al&limit=x", "limit x")] {
                expectError(try await h.call(.get, "/v1/users?\(query)", token: alice.token), .badRequest, "invalid_request", label)
            }
            expectError(try await h.call(.get, "/v1/users?q=al"), .unauthorized, "unauthorized")
        }
    }

    @Test("following next_cursor while messages arrive lists every conversation exactly once")
    func cursorUnderActivity() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            var groups: [String] = []
            for index in 0..<12 {
                groups.append(try await h.group(alice, title: "g\(index)", members: [bob]))
                try await waitForClock(toPass: nowMillis())
            }
            let first = try await h.call(.get, "/v1/conversations?limit=5", token: alice.token)
            var seen = first.body["conversations"].array.compactMap { $0["id"].string }
            #expect(seen == Array(groups.reversed().prefix(5)))
            var cursor = try #require(first.body["next_cursor"].string)

            // Everything not yet listed jumps ahead while Alice pages on.
            for id in groups.prefix(7) {
                try await waitForClock(toPass: nowMillis())
                try await h.send(bob, id, "bump")
            }
            _ = try await h.group(bob, title: "newer", members: [alice])
            for _ in 0..<5 {
                let page = try await h.call(.get, "/v1/conversations?limit=5&cursor=\(cursor)", token: alice.token)
                #expect(page.status == .ok, "\(page.raw)")
                seen += page.body["conversations"].array.compactMap { $0["id"].string }
                guard let next = page.body["next_cursor"].string else { break }
                cursor = next
            }
            #expect(seen == groups.reversed(), "each of the 12 exactly once, in the first page's order")
        }
    }

    @Test("a cursor is sealed: opaque, different every time, refused if altered or made with another key")
    func sealedCursor() async throws {
        var other = try await TestDatabase()
        other.configuration.jwtSecret = "another-secret-that-is-long-enough-for-hs256"
        let foreign: String = try await Harness.live(other.configuration) { h in
            let alice = try await h.signUp("alice")
            for index in 0..<3 { _ = try await h.group(alice, title: "g\(index)", members: []) }
            return try #require(try await h.call(.get, "/v1/conversations?limit=1", token: alice.token).body["next_cursor"].string)
        }
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            for index in 0..<3 { _ = try await h.group(alice, title: "g\(index)", members: []) }
            let one = try #require(try await h.call(.get, "/v1/conversations?limit=1", token: alice.token).body["next_cursor"].string)
            let two = try #require(try await h.call(.get, "/v1/conversations?limit=1", token: alice.token).body["next_cursor"].string)
            #expect(one != two, "a fresh nonce every time")
            #expect(try await h.call(.get, "/v1/conversations?limit=1&cursor=\(one)", token: alice.token).status == .ok)
            let decoded = Data(base64Encoded: one.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
                .padding(toLength: (one.count + 3) / 4 * 4, withPad: "=", startingAt: 0))
            // No plain text inside: not the form's prefix, not a conversation id.
            let bytes = try #require(decoded)
            #expect(bytes.count > 16)
            #expect(!String(decoding: bytes, as: UTF8.self).contains("c1:"))

            var altered = Array(one)
            altered[altered.count / 2] = altered[altered.count / 2] == "A" ? "B" : "A"
            for cursor in [String(altered), foreign, String(one.dropLast(2))] {
                expectError(
                    try await h.call(.get, "/v1/conversations?cursor=\(cursor)", token: alice.token), .badRequest, "invalid_request", cursor)
            }
        }
    }

    @Test("the number of blocks one user keeps is bounded")
    func blockLimit() async throws {
        var database = try await TestDatabase()
        database.configuration.limits.maxBlocks = 2
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            var others: [TestUser] = []
            for name in ["bob", "carol", "dave"] { others.append(try await h.signUp(name)) }
            expectNoContent(try await h.call(.put, "/v1/blocks/\(others[0].id)", token: alice.token))
            expectNoContent(try await h.call(.put, "/v1/blocks/\(others[1].id)", token: alice.token))
            expectError(try await h.call(.put, "/v1/blocks/\(others[2].id)", token: alice.token), .forbidden, "forbidden")
            expectNoContent(try await h.call(.put, "/v1/blocks/\(others[1].id)", token: alice.token), "blocking again at the limit")
            let listed = try await h.call(.get, "/v1/blocks", token: alice.token).body["users"].array.compactMap { $0["id"].string }
            #expect(listed == [others[1].id, others[0].id] || Set(listed) == [others[0].id, others[1].id])
            #expect(!listed.contains(others[2].id))
        }
    }
}
