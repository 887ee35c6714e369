import Foundation
import HTTPTypes
import Testing

/// The service API (issue 19), against the real binary: the product's
/// backend makes users, tokens and conversations, posts as a bot, and bans.
@Suite("The service API", .timeLimit(.minutes(3)))
struct ServiceAPITests {
    static let key = "service-key-of-the-product-backend-0123456789"

    /// Every route of the contract's table that is built, with a body that
    /// would be valid, on ids that need not exist.
    nonisolated(unsafe) static let routes: [(HTTPRequest.Method, String, [String: Any]?)] = [
        (.put, "/v1/service/users/ext-1", ["handle": "someone"]),
        (.post, "/v1/service/users/AAAAAAAAAAAAAAAAAAAAAA/tokens", [:]),
        (.post, "/v1/service/conversations", ["kind": "group", "title": "T", "members": []]),
        (.post, "/v1/service/conversations/AAAAAAAAAAAAAAAAAAAAAA/members", ["user_id": "AAAAAAAAAAAAAAAAAAAAAA"]),
        (.delete, "/v1/service/conversations/AAAAAAAAAAAAAAAAAAAAAA/members/AAAAAAAAAAAAAAAAAAAAAA", nil),
        (.post, "/v1/service/conversations/AAAAAAAAAAAAAAAAAAAAAA/messages", ["as": "AAAAAAAAAAAAAAAAAAAAAA", "text": "hi", "client_id": "1"]),
        (.delete, "/v1/service/users/AAAAAAAAAAAAAAAAAAAAAA", nil),
        (.delete, "/v1/service/conversations/AAAAAAAAAAAAAAAAAAAAAA/messages/1", nil),
        (.put, "/v1/service/bans/AAAAAAAAAAAAAAAAAAAAAA", ["minutes": 5]),
        (.delete, "/v1/service/bans/AAAAAAAAAAAAAAAAAAAAAA", nil),
    ]

    static func start(_ database: borrowing TestDatabase, arguments: [String] = ["--service-key", key]) async throws -> ServerProcess {
        try await ServerProcess.start(database: database.configuration.databasePath, arguments: arguments)
    }

    @Test("without a service key every service route is 404; with one, a missing, wrong or partial key is 401 and changes nothing")
    func keyRequired() async throws {
        let database = try await TestDatabase()
        let plain = try await Self.start(database, arguments: [])
        let h = Harness(port: plain.port)
        for (method, path, json) in Self.routes {
            expectError(try await h.call(method, path, token: Self.key, json: json), .notFound, "not_found", "\(method) \(path) without a key configured")
        }
        _ = plain.terminate()

        let server = try await Self.start(database)
        defer { server.terminate() }
        let s = Harness(port: server.port)
        let alice = try await s.signUp("alice")
        for (method, path, json) in Self.routes {
            for (label, authorization) in [
                ("no key", nil), ("wrong key", "Bearer \(Self.key.dropLast())X"), ("a prefix of the key", "Bearer \(Self.key.prefix(20))"),
                ("a user's token", "Bearer \(alice.token)"), ("basic", "Basic \(Self.key)"),
            ] as [(String, String?)] {
                var headers = HTTPFields()
                if let authorization { headers[.authorization] = authorization }
                let reply = try await s.call(method, path, json: json, headers: headers)
                expectError(reply, .unauthorized, "unauthorized", "\(method) \(path), \(label)")
            }
        }
        let search = try await s.call(.get, "/v1/users?q=someone", token: alice.token)
        #expect(search.body["users"].array.isEmpty, "no user was made without the key")
    }

    @Test("users by external id: made (201), changed (200), handles checked; a bot shows as one; tokens for the user work on HTTP and /v1/ws")
    func users() async throws {
        let database = try await TestDatabase()
        let server = try await Self.start(database)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let made = try await h.call(.put, "/v1/service/users/auth0%7C42", token: Self.key, json: ["handle": "Fay", "display_name": "Fay F."])
        #expect(made.status == .created, "\(made.raw)")
        let fay = try #require(made.body["user"]["id"].string)
        #expect(made.body["user"]["handle"].string == "Fay")
        #expect(made.body["user"]["bot"] == .null, "bot only when true")
        #expect(made.body["external_id"].string == "auth0|42")
        let changed = try await h.call(.put, "/v1/service/users/auth0%7C42", token: Self.key, json: ["display_name": "Fay Fenn"])
        #expect(changed.status == .ok)
        #expect(changed.body["user"]["id"].string == fay)
        #expect(changed.body["user"]["handle"].string == "Fay", "what is not given stays")
        #expect(changed.body["user"]["display_name"].string == "Fay Fenn")
        let same = try await h.call(.put, "/v1/service/users/auth0%7C42", token: Self.key, json: [:])
        #expect(same.status == .ok && same.body["user"]["display_name"].string == "Fay Fenn")

        _ = try await h.signUp("gus")
        expectError(try await h.call(.put, "/v1/service/users/other", token: Self.key, json: ["handle": "GUS"]), .conflict, "conflict")
        expectError(try await h.call(.put, "/v1/service/users/auth0%7C42", token: Self.key, json: ["handle": "gus"]), .conflict, "conflict")
        expectError(try await h.call(.put, "/v1/service/users/other", token: Self.key, json: ["handle": "no spaces"]), .badRequest, "invalid_request")
        expectError(try await h.call(.put, "/v1/service/users/%0A", token: Self.key, json: [:]), .badRequest, "invalid_request")
        let generated = try await h.call(.put, "/v1/service/users/other", token: Self.key, json: [:])
        #expect(generated.status == .created && generated.body["user"]["handle"].string?.hasPrefix("u") == true)

        let bot = try await h.call(.put, "/v1/service/users/deploy-bot", token: Self.key, json: ["handle": "deploys", "bot": true])
        #expect(bot.body["user"]["bot"].bool == true)

        // A token for Fay: 201, works on HTTP and the WebSocket.
        let issued = try await h.call(.post, "/v1/service/users/\(fay)/tokens", token: Self.key, json: ["ttl_s": 3600])
        #expect(issued.status == .created)
        let token = try #require(issued.body["token"].string)
        let expires = try #require(issued.body["expires_ts"].int)
        #expect(abs(expires - Int(Date().timeIntervalSince1970 * 1000) - 3_600_000) < 5_000)
        let me = try await h.call(.get, "/v1/me", token: token)
        #expect(me.body["user"]["id"].string == fay)
        #expect(!me.raw.contains("auth0"), "the user does not see their external id either")
        let (socket, _) = try await TestSocket.ready(port: h.port, token: token)
        await socket.close()
        // Without a body: the server's lifetime. Out of bounds: refused.
        #expect(try await h.call(.post, "/v1/service/users/\(fay)/tokens", token: Self.key).status == .created)
        for ttl in [10, 365 * 24 * 3600] {
            expectError(
                try await h.call(.post, "/v1/service/users/\(fay)/tokens", token: Self.key, json: ["ttl_s": ttl]), .badRequest,
                "invalid_request", "ttl \(ttl)")
        }
        expectError(try await h.call(.post, "/v1/service/users/AAAAAAAAAAAAAAAAAAAAAA/tokens", token: Self.key), .notFound, "not_found")
    }

    @Test("a rename by the service reaches the user's open sockets: what they send after it carries the new handle and name")
    func renameReachesSockets() async throws {
        let database = try await TestDatabase()
        let server = try await Self.start(database)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let made = try await h.call(.put, "/v1/service/users/ext-fay", token: Self.key, json: ["handle": "fay", "display_name": "Fay"])
        let fay = try #require(made.body["user"]["id"].string, "\(made.raw)")
        let gus = try await h.signUp("gus")
        let group = try await h.call(
            .post, "/v1/service/conversations", token: Self.key, json: ["kind": "group", "title": "T", "owner_id": gus.id, "members": [fay]])
        let groupID = try #require(group.body["conversation"]["id"].string, "\(group.raw)")
        let token = try #require(try await h.call(.post, "/v1/service/users/\(fay)/tokens", token: Self.key).body["token"].string)
        let (faySocket, _) = try await TestSocket.ready(port: h.port, token: token)
        let (gusSocket, _) = try await h.socket(gus)

        let renamed = try await h.call(.put, "/v1/service/users/ext-fay", token: Self.key, json: ["handle": "fenn", "display_name": "Fay Fenn"])
        #expect(renamed.status == .ok, "\(renamed.raw)")
        try await faySocket.send(["type": "send", "id": "1", "conversation_id": groupID, "text": "same me", "client_id": "r1"])
        _ = try await faySocket.next(type: "ack")
        let sender = try await gusSocket.next(type: "message")["message"]["sender"]
        #expect(sender["id"].string == fay && sender["handle"].string == "fenn" && sender["display_name"].string == "Fay Fenn", "\(sender)")
        await faySocket.close()
        await gusSocket.close()
    }

    @Test("conversations: the service makes groups and direct ones, changes members as the owner would, and a bot posts as a member")
    func conversationsAndBots() async throws {
        let database = try await TestDatabase()
        let server = try await Self.start(database)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let ann = try await h.signUp("ann")
        let ben = try await h.signUp("ben")
        let cat = try await h.signUp("cat")
        let bot = try #require(try await h.call(.put, "/v1/service/users/bot-1", token: Self.key, json: ["handle": "buildbot", "bot": true])
            .body["user"]["id"].string)

        let group = try await h.call(
            .post, "/v1/service/conversations", token: Self.key,
            json: ["kind": "group", "title": "Releases", "owner_id": ann.id, "members": [ben.id, bot]])
        #expect(group.status == .created, "\(group.raw)")
        let groupID = try #require(group.body["conversation"]["id"].string)
        #expect(group.body["conversation"]["owner_id"].string == ann.id)
        #expect(group.body["conversation"]["members"].array.count == 3)
        #expect(group.body["conversation"]["members"].array.contains { $0["user"]["id"].string == bot && $0["user"]["bot"].bool == true })

        let direct = try await h.call(.post, "/v1/service/conversations", token: Self.key, json: ["kind": "direct", "members": [ann.id, cat.id]])
        #expect(direct.status == .created)
        let directID = try #require(direct.body["conversation"]["id"].string)
        expectError(
            try await h.call(.post, "/v1/service/conversations", token: Self.key, json: ["kind": "direct", "members": [ann.id]]),
            .badRequest, "invalid_request")

        // Members: added and removed by the service, heard by the members.
        let (annSocket, _) = try await h.socket(ann)
        expectNoContent(try await h.call(.post, "/v1/service/conversations/\(groupID)/members", token: Self.key, json: ["user_id": cat.id]))
        #expect(try await annSocket.next(type: "conversation")["change"].string == "member_added")
        expectNoContent(try await h.call(.delete, "/v1/service/conversations/\(groupID)/members/\(ben.id)", token: Self.key))
        #expect(try await annSocket.next(type: "conversation")["change"].string == "member_removed")
        expectError(
            try await h.call(.post, "/v1/service/conversations/\(directID)/members", token: Self.key, json: ["user_id": ben.id]),
            .forbidden, "forbidden")
        expectError(
            try await h.call(.post, "/v1/service/conversations/AAAAAAAAAAAAAAAAAAAAAA/members", token: Self.key, json: ["user_id": ben.id]),
            .notFound, "not_found")

        // The bot posts: stored, numbered, live to the members, marked a bot.
        let posted = try await h.call(
            .post, "/v1/service/conversations/\(groupID)/messages", token: Self.key,
            json: ["as": bot, "text": "v2.1 is out", "client_id": "release-2.1"])
        #expect(posted.status == .created, "\(posted.raw)")
        #expect(posted.body["message"]["seq"].int == 1)
        let live = try await annSocket.next(type: "message")
        #expect(live["message"]["text"].string == "v2.1 is out")
        #expect(live["message"]["sender"]["bot"].bool == true)
        let again = try await h.call(
            .post, "/v1/service/conversations/\(groupID)/messages", token: Self.key,
            json: ["as": bot, "text": "v2.1 is out", "client_id": "release-2.1"])
        #expect(again.status == .ok && again.body["duplicate"].bool == true && again.body["message"]["seq"].int == 1)
        let history = try await h.history(ann, groupID)
        #expect(history.map { $0["text"].string } == ["v2.1 is out"])
        #expect(history.first?["sender"]["bot"].bool == true)
        // Not a member (Ben was removed), no text, an unknown sender.
        expectError(
            try await h.call(.post, "/v1/service/conversations/\(groupID)/messages", token: Self.key,
                             json: ["as": ben.id, "text": "hi", "client_id": "b1"]), .forbidden, "forbidden")
        expectError(
            try await h.call(.post, "/v1/service/conversations/\(groupID)/messages", token: Self.key,
                             json: ["as": bot, "text": " ", "client_id": "b2"]), .badRequest, "invalid_request")
        expectError(
            try await h.call(.post, "/v1/service/conversations/\(groupID)/messages", token: Self.key,
                             json: ["as": "AAAAAAAAAAAAAAAAAAAAAA", "text": "hi", "client_id": "b3"]), .notFound, "not_found")
        // Roles on adding: an admin; the owner, which hands the group over.
        expectNoContent(try await h.call(
            .post, "/v1/service/conversations/\(groupID)/members", token: Self.key, json: ["user_id": ben.id, "role": "admin"]))
        expectNoContent(try await h.call(
            .post, "/v1/service/conversations/\(groupID)/members", token: Self.key, json: ["user_id": ben.id, "role": "owner"]))
        let roles = try await h.show(ann, groupID)["members"].array.map { ($0["user"]["id"].string ?? "", $0["role"].string ?? "") }
        #expect(Dictionary(uniqueKeysWithValues: roles) == [ann.id: "admin", bot: "member", cat.id: "member", ben.id: "owner"])
        expectError(
            try await h.call(.post, "/v1/service/conversations/\(groupID)/members", token: Self.key, json: ["user_id": ben.id, "role": "king"]),
            .badRequest, "invalid_request")
        await annSocket.close()
    }

    @Test("bans: the user's sockets close with 4403 and their token is refused until the service lifts the ban")
    func bans() async throws {
        let database = try await TestDatabase()
        let server = try await Self.start(database)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let dan = try await h.signUp("dan")
        let (socket, _) = try await h.socket(dan)
        expectNoContent(try await h.call(.put, "/v1/service/bans/\(dan.id)", token: Self.key, json: ["minutes": 60, "reason": "spam"]))
        #expect(try await socket.closed().code == 4403)
        expectError(try await h.call(.get, "/v1/me", token: dan.token), .forbidden, "forbidden")
        for minutes in [0, -5, 1e9] {
            expectError(
                try await h.call(.put, "/v1/service/bans/\(dan.id)", token: Self.key, json: ["minutes": minutes]), .badRequest,
                "invalid_request", "minutes \(minutes)")
        }
        expectNoContent(try await h.call(.delete, "/v1/service/bans/\(dan.id)", token: Self.key))
        #expect(try await h.call(.get, "/v1/me", token: dan.token).status == .ok)
        let (back, _) = try await h.socket(dan)
        await back.close()
        expectNoContent(try await h.call(.delete, "/v1/service/bans/\(dan.id)", token: Self.key), "lifting no ban is fine")
    }

    @Test("a moderator's delete and an erased account: text gone, seqs kept, members told live; the erased user's sockets close and sign-in ends")
    func deletionAndErasure() async throws {
        let database = try await TestDatabase()
        let server = try await Self.start(database)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let ann = try await h.signUp("ann")
        let eve = try await h.signUp("eve")
        let group = try await h.group(ann, members: [eve])
        _ = try await h.send(ann, group, "hello")
        _ = try await h.send(eve, group, "spam spam")
        _ = try await h.send(eve, group, "more spam")
        let (annSocket, _) = try await h.socket(ann)
        let (eveSocket, _) = try await h.socket(eve)

        expectNoContent(try await h.call(.delete, "/v1/service/conversations/\(group)/messages/2", token: Self.key))
        let updated = try await annSocket.next(type: "message_updated")
        #expect(updated["message"]["seq"].int == 2 && updated["message"]["deleted"].bool == true && updated["message"]["text"].string == "")
        expectNoContent(try await h.call(.delete, "/v1/service/conversations/\(group)/messages/2", token: Self.key), "again")
        expectError(try await h.call(.delete, "/v1/service/conversations/\(group)/messages/9", token: Self.key), .notFound, "not_found")
        expectError(try await h.call(.delete, "/v1/service/conversations/\(group)/messages/x", token: Self.key), .badRequest, "invalid_request")
        let afterDelete = try await h.messages(ann, group)
        #expect(afterDelete.map { $0["text"].string } == ["hello", "", "more spam"])
        #expect(afterDelete.map { $0["deleted"].bool ?? false } == [false, true, false])

        expectNoContent(try await h.call(.delete, "/v1/service/users/\(eve.id)", token: Self.key))
        #expect(try await eveSocket.closed().code == 4401)
        let erased = try await annSocket.next(type: "message_updated")
        #expect(erased["message"]["seq"].int == 3 && erased["message"]["deleted"].bool == true)
        #expect(erased["message"]["sender"]["display_name"].string == "Deleted user")
        let history = try await h.messages(ann, group)
        #expect(history.map { $0["seq"].int } == [1, 2, 3], "seqs stay")
        #expect(history.map { $0["text"].string } == ["hello", "", ""])
        expectError(try await h.call(.get, "/v1/me", token: eve.token), .unauthorized, "unauthorized")
        expectError(
            try await h.call(.post, "/v1/tokens", json: ["handle": "eve", "password": "correct horse battery"]), .unauthorized, "unauthorized")
        expectError(try await h.call(.delete, "/v1/service/users/\(eve.id)", token: Self.key), .notFound, "not_found", "erased already")
        #expect(try await h.call(.get, "/v1/users?q=eve", token: ann.token).body["users"].array.isEmpty)
        _ = try await h.signUp("eve")  // the handle is free again: a new person
        await annSocket.close()
    }
}
