import Foundation
import Testing

/// Roles, deletes and invites over HTTP and the WebSocket (issue 19).
@Suite("Roles and invites over HTTP", .timeLimit(.minutes(2)))
struct RoleAndInviteRouteTests {
    static func roles(_ conversation: JSON) -> [String: String] {
        var roles: [String: String] = [:]
        for member in conversation["members"].array {
            if let handle = member["user"]["handle"].string { roles[handle] = member["role"].string }
        }
        return roles
    }

    @Test("roles: shown in members, changed by the owner only, heard live; admins add and remove members and delete any message")
    func roles() async throws {
        try await Harness.live { h in
            let ann = try await h.signUp("ann")
            let bob = try await h.signUp("bob")
            let cat = try await h.signUp("cat")
            let dan = try await h.signUp("dan")
            let group = try await h.group(ann, members: [bob, cat])
            #expect(Self.roles(try await h.show(bob, group)) == ["ann": "owner", "bob": "member", "cat": "member"])
            let (catSocket, _) = try await h.socket(cat)

            let promoted = try await h.call(.put, "/v1/conversations/\(group)/members/\(bob.id)", token: ann.token, json: ["role": "admin"])
            #expect(promoted.status == .ok && Self.roles(promoted.body["conversation"])["bob"] == "admin")
            let heard = try await catSocket.next(type: "conversation")
            #expect(heard["change"].string == "role_changed" && heard["user_id"].string == bob.id)
            expectError(
                try await h.call(.put, "/v1/conversations/\(group)/members/\(cat.id)", token: bob.token, json: ["role": "admin"]),
                .forbidden, "forbidden", "an admin changes a role")
            expectError(
                try await h.call(.put, "/v1/conversations/\(group)/members/\(cat.id)", token: ann.token, json: ["role": "boss"]),
                .badRequest, "invalid_request")
            expectNoContent(try await h.call(.post, "/v1/conversations/\(group)/members", token: bob.token, json: ["user_id": dan.id]))
            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/members/\(dan.id)", token: bob.token))
            expectError(
                try await h.call(.post, "/v1/conversations/\(group)/members", token: cat.token, json: ["user_id": dan.id]),
                .forbidden, "forbidden", "a member adds")

            // Deletes: one's own; an admin's of anyone's; not a member's of another's.
            _ = try await h.send(cat, group, "mine")
            _ = try await h.send(ann, group, "the owner's")
            expectError(try await h.call(.delete, "/v1/conversations/\(group)/messages/2", token: cat.token), .forbidden, "forbidden")
            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/messages/1", token: cat.token))
            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/messages/2", token: bob.token))
            var updates: [Int] = []
            while updates.count < 2 {
                let frame = try await catSocket.next()
                if frame["type"].string == "message_updated" { updates.append(frame["message"]["seq"].int ?? 0) }
            }
            #expect(updates == [1, 2])
            #expect(try await h.messages(ann, group).map { $0["deleted"].bool ?? false } == [true, true])
            expectError(try await h.call(.delete, "/v1/conversations/\(group)/messages/1", token: dan.token), .notFound, "not_found")

            // The owner hands over; the old owner is an admin.
            let handed = try await h.call(.put, "/v1/conversations/\(group)/members/\(cat.id)", token: ann.token, json: ["role": "owner"])
            #expect(Self.roles(handed.body["conversation"]) == ["ann": "admin", "bob": "admin", "cat": "owner"])
            #expect(handed.body["conversation"]["owner_id"].string == cat.id)
            await catSocket.close()
        }
    }

    @Test("invites: made by the owner or an admin, accepted by anyone signed in, used up, revoked; two people at a single-use invite: one gets in")
    func invites() async throws {
        try await Harness.live { h in
            let ann = try await h.signUp("ann")
            let bob = try await h.signUp("bob")
            let group = try await h.group(ann, members: [bob])
            expectError(try await h.call(.post, "/v1/conversations/\(group)/invites", token: bob.token, json: [:]), .forbidden, "forbidden")
            let made = try await h.call(.post, "/v1/conversations/\(group)/invites", token: ann.token, json: ["expires_in_s": 3600, "max_uses": 2])
            #expect(made.status == .created, "\(made.raw)")
            let code = try #require(made.body["invite"]["code"].string)
            #expect(made.body["invite"]["max_uses"].int == 2 && made.body["invite"]["uses"].int == 0)
            let expires = try #require(made.body["invite"]["expires_ts"].int)
            #expect(abs(expires - Int(Date().timeIntervalSince1970 * 1000) - 3_600_000) < 5_000)
            let defaulted = try await h.call(.post, "/v1/conversations/\(group)/invites", token: ann.token)
            #expect(defaulted.status == .created && defaulted.body["invite"]["max_uses"] == .null)
            expectError(
                try await h.call(.post, "/v1/conversations/\(group)/invites", token: ann.token, json: ["expires_in_s": 10]),
                .badRequest, "invalid_request")

            let (annSocket, _) = try await h.socket(ann)
            let cat = try await h.signUp("cat")
            let joined = try await h.call(.post, "/v1/invites/\(code)/accept", token: cat.token)
            #expect(joined.status == .ok && joined.body["conversation"]["id"].string == group)
            #expect(Self.roles(joined.body["conversation"])["cat"] == "member")
            let heard = try await annSocket.next(type: "conversation")
            #expect(heard["change"].string == "member_added" && heard["user_id"].string == cat.id)
            #expect(try await h.call(.post, "/v1/invites/\(code)/accept", token: cat.token).status == .ok, "a member again")
            let dan = try await h.signUp("dan")
            #expect(try await h.call(.post, "/v1/invites/\(code)/accept", token: dan.token).status == .ok)
            let eve = try await h.signUp("eve")
            expectError(try await h.call(.post, "/v1/invites/\(code)/accept", token: eve.token), .notFound, "not_found", "used up")
            expectError(try await h.call(.post, "/v1/invites/not-a-code/accept", token: eve.token), .notFound, "not_found")
            expectError(try await h.call(.post, "/v1/invites/\(code)/accept"), .unauthorized, "unauthorized")

            // The list: live invites only (the used-up one is gone), newest first; the owner's and admins'.
            let other = try #require(defaulted.body["invite"]["code"].string)
            let listed = try await h.call(.get, "/v1/conversations/\(group)/invites", token: ann.token)
            #expect(listed.status == .ok && listed.body["invites"].array.map { $0["code"].string } == [other], "\(listed.raw)")
            #expect(listed.body["invites"][0]["uses"].int == 0 && listed.body["invites"][0]["max_uses"] == .null)
            expectError(try await h.call(.get, "/v1/conversations/\(group)/invites", token: cat.token), .forbidden, "forbidden")
            expectError(try await h.call(.get, "/v1/conversations/\(group)/invites", token: eve.token), .notFound, "not_found")
            expectNoContent(try await h.call(.delete, "/v1/conversations/\(group)/invites/\(other)", token: ann.token))
            #expect(try await h.call(.get, "/v1/conversations/\(group)/invites", token: ann.token).body["invites"].array.isEmpty, "revoked")
            expectError(try await h.call(.post, "/v1/invites/\(other)/accept", token: eve.token), .notFound, "not_found", "revoked")
            expectError(try await h.call(.delete, "/v1/conversations/\(group)/invites/\(other)", token: ann.token), .notFound, "not_found")

            // Two people at once at a single-use invite.
            let single = try #require(try await h.call(
                .post, "/v1/conversations/\(group)/invites", token: ann.token, json: ["max_uses": 1]).body["invite"]["code"].string)
            let fay = try await h.signUp("fay")
            let gus = try await h.signUp("gus")
            async let first = h.call(.post, "/v1/invites/\(single)/accept", token: fay.token)
            async let second = h.call(.post, "/v1/invites/\(single)/accept", token: gus.token)
            let statuses = [try await first.status.code, try await second.status.code].sorted()
            #expect(statuses == [200, 404], "\(statuses)")
            #expect(try await h.show(ann, group)["members"].array.count == 5)
            await annSocket.close()
        }
    }
}
