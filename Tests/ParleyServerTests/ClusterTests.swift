import Foundation
import Testing

/// Several real `parley serve` processes on one PostgreSQL database, as one
/// server: what happens on one node reaches the sessions on the others.
@Suite("Several nodes as one server", .serialized, .enabled(if: ScratchPostgres.server != nil), .timeLimit(.minutes(3)))
struct ClusterTests {
    /// `count` nodes on one fresh database.
    private func withNodes(
        _ count: Int, arguments: [String] = [], _ body: (ScratchPostgres, [ServerProcess], [Harness]) async throws -> Void
    ) async throws {
        let database = try await ScratchPostgres()
        defer { database.drop() }
        var nodes: [ServerProcess] = []
        defer { for node in nodes { node.terminate() } }
        for _ in 0..<count { nodes.append(try await ServerProcess.start(database: database.url, arguments: arguments)) }
        try await body(database, nodes, nodes.map { Harness(port: $0.port) })
    }

    @Test("two people on two nodes: messages, typing and receipts cross; a person on both nodes sees the same on both")
    func twoNodesChat() async throws {
        try await withNodes(2) { _, _, nodes in
            let (alice, bob, conversation) = try await nodes[0].pair()
            let (alice1, _) = try await nodes[0].socket(alice)
            let (bob2, _) = try await nodes[1].socket(bob)
            let (bob1, _) = try await nodes[0].socket(bob)

            try await alice1.send(["type": "send", "id": "1", "conversation_id": conversation, "text": "hi from node 1", "client_id": "a1"])
            let ack = try await alice1.awaitFrame("ack", "alice's ack")
            for socket in [bob2, bob1] {
                let message = try await socket.awaitFrame("message", "bob's message from node 1")
                #expect(message["message"]["seq"].int == ack["seq"].int)
                #expect(message["message"]["text"].string == "hi from node 1")
            }

            try await bob2.send(["type": "send", "id": "2", "conversation_id": conversation, "text": "hi from node 2", "client_id": "b1"])
            _ = try await bob2.awaitFrame("ack", "bob's ack")
            #expect(try await alice1.awaitFrame("message", "alice gets bob's message")["message"]["text"].string == "hi from node 2")
            let echo = try await bob1.awaitFrame("message", "bob's other session gets his message")
            #expect(echo["message"]["client_id"].string == "b1", "the sender's other session, on the other node, gets it with client_id")

            try await bob2.send(["type": "typing", "conversation_id": conversation])
            let typing = try await alice1.awaitFrame("typing", "alice sees bob typing")
            #expect(typing["user_id"].string == bob.id)

            // Alice, on node 1, reads Bob's message: Bob hears of it on both
            // nodes; Alice's session on node 2 gets her read state.
            let (alice2, _) = try await nodes[1].socket(alice)
            try await alice1.send(["type": "read", "id": "3", "conversation_id": conversation, "seq": 2])
            _ = try await alice1.awaitFrame("ok", "alice's read is answered")
            for socket in [bob1, bob2] {
                let receipt = try await socket.awaitFrame("receipt", "bob gets alice's receipt")
                #expect(receipt["user_id"].string == alice.id && receipt["seq"].int == 2)
            }
            let state = try await alice2.awaitFrame("read_state", "alice's session on node 2 gets her read state")
            #expect(state["read_seq"].int == 2 && state["unread"].int == 0)
            await alice2.close()
            for socket in [alice1, bob1, bob2] { await socket.close() }
        }
    }

    @Test("senders on three nodes in one group at once: every session on every node gets every message once, in seq order")
    func concurrentSendersKeepOrder() async throws {
        try await withNodes(3) { _, _, nodes in
            var members: [TestUser] = []
            for (index, handle) in ["ann", "ben", "cat"].enumerated() { members.append(try await nodes[index].signUp(handle)) }
            let group = try await nodes[0].group(members[0], members: Array(members.dropFirst()))
            // Each member listens on every node.
            var listeners: [TestSocket] = []
            for member in members {
                for node in nodes { listeners.append(try await node.socket(member).0) }
            }
            let perSender = 60
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for (index, member) in members.enumerated() {
                    tasks.addTask {
                        let (socket, _) = try await nodes[index].socket(member)
                        for n in 0..<perSender {
                            try await socket.send(["type": "send", "id": "\(n)", "conversation_id": group, "text": "\(member.handle) \(n)", "client_id": "\(n)"])
                            _ = try await socket.awaitFrame("ack", "\(member.handle)'s ack", timeout: .seconds(30))
                        }
                        await socket.close()
                    }
                }
                try await tasks.waitForAll()
            }
            let total = perSender * members.count
            for listener in listeners {
                var seqs: [Int] = []
                while seqs.count < total {
                    let message = try await listener.awaitFrame("message", "a listener's message", timeout: .seconds(20))
                    seqs.append(message["message"]["seq"].int ?? -1)
                }
                #expect(seqs == Array(1...total), "every message once, in order")
                await listener.expectSilence()
                await listener.close()
            }
        }
    }

    @Test("a node's listening connection killed (pg_terminate_backend) during traffic: no live event is lost, and the node listens again by itself")
    func listenerKilled() async throws {
        try await withNodes(2) { database, _, nodes in
            let (alice, bob, conversation) = try await nodes[0].pair()
            let (bob2, _) = try await nodes[1].socket(bob)
            let (alice1, _) = try await nodes[0].socket(alice)
            let total = 300
            let sender = Task {
                for n in 0..<total {
                    try await alice1.send(["type": "send", "id": "\(n)", "conversation_id": conversation, "text": "\(n)", "client_id": "\(n)"])
                    _ = try await alice1.awaitFrame("ack", "alice's ack", timeout: .seconds(30))
                    if n % 50 == 25 {
                        // Every node's listener, this one's too: node 2 is the one that matters.
                        _ = try await database.value(
                            "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity WHERE application_name = 'parley-listener' AND datname = current_database()")
                    }
                }
            }
            var seqs: [Int] = []
            while seqs.count < total {
                seqs.append(try await bob2.awaitFrame("message", "bob's message", timeout: .seconds(20))["message"]["seq"].int ?? -1)
            }
            try await sender.value
            #expect(seqs == Array(1...total), "every message once, in order, late allowed")
            // A node whose listener was killed last may still be on its way back.
            var listening: String?
            let deadline = ContinuousClock.now + .seconds(5)
            repeat {
                listening = try await database.value(
                    "SELECT count(*)::text FROM pg_stat_activity WHERE application_name = 'parley-listener' AND datname = current_database()")
                if listening != "2" { try await Task.sleep(for: .milliseconds(100)) }
            } while listening != "2" && ContinuousClock.now < deadline
            #expect(listening == "2", "both nodes listen again")
            await alice1.close()
            await bob2.close()
        }
    }

    @Test("presence across three nodes: online at the first session anywhere, offline at the last one everywhere, one event each, and every node answers the same, a node started meanwhile too")
    func presenceAcrossNodes() async throws {
        try await withNodes(3) { database, _, nodes in
            let (alice, bob, _) = try await nodes[0].pair()
            let (bob1, _) = try await nodes[1].socket(bob, ignoring: [])
            let (alice2, _) = try await nodes[2].socket(alice)
            #expect(try await bob1.awaitFrame("presence", "bob sees alice come online on another node") == presenceEvent(alice, online: true))
            let (alice0, _) = try await nodes[0].socket(alice)
            for node in nodes { try await node.expectOnline(alice, true, asking: bob) }
            // A node that starts now knows who is online elsewhere already.
            let late = try await ServerProcess.start(database: database.url)
            try await Harness(port: late.port).expectOnline(alice, true, asking: bob)
            late.terminate()

            // Her session on node 2 ends; the one on node 0 keeps her online.
            await alice2.close()
            try await Task.sleep(for: .seconds(1))
            for node in nodes { try await node.expectOnline(alice, true, asking: bob) }

            await alice0.close()
            let offline = try await bob1.awaitFrame("presence", "bob sees alice go offline")
            #expect(offline["user_id"].string == alice.id && offline["online"].bool == false)
            #expect(offline["last_seen_ts"].int != nil)
            for node in nodes { try await node.expectOnline(alice, false, asking: bob) }
            await bob1.expectSilence(for: .seconds(1))
            await bob1.close()
        }
    }

    @Test("a node killed with kill -9: its users with no session elsewhere go offline for their contacts on the other nodes within 15 s; a node started again takes sessions at once")
    func deadNodesUsersGoOffline() async throws {
        try await withNodes(3) { database, processes, nodes in
            let (alice, bob, _) = try await nodes[0].pair()
            let carol = try await nodes[0].signUp("carol")
            _ = try await nodes[0].direct(bob, carol)
            let (bob0, _) = try await nodes[0].socket(bob, ignoring: [])
            // Alice only on node 2; Carol on node 2 and node 1.
            let (alice2, _) = try await nodes[2].socket(alice)
            let (carol2, _) = try await nodes[2].socket(carol)
            let (carol1, _) = try await nodes[1].socket(carol)
            var cameOnline = Set<String>()
            while cameOnline.count < 2 {
                let presence = try await bob0.awaitFrame("presence", "bob sees alice and carol come online")
                #expect(presence["online"].bool == true)
                cameOnline.insert(presence["user_id"].string ?? "")
            }
            #expect(cameOnline == [alice.id, carol.id])

            let killed = ContinuousClock.now
            processes[2].kill()
            let offline = try await bob0.awaitFrame("presence", "alice goes offline after her node died", timeout: .seconds(20))
            let took = ContinuousClock.now - killed
            #expect(offline["user_id"].string == alice.id && offline["online"].bool == false, "\(offline)")
            #expect(took < .seconds(15), "offline announced \(took) after the kill")
            for node in nodes.prefix(2) {
                try await node.expectOnline(alice, false, asking: bob)
                try await node.expectOnline(carol, true, asking: bob)
            }
            await bob0.expectSilence(for: .seconds(1))
            let rows = try await database.value("SELECT count(*)::text FROM cluster_presence")
            #expect(rows == "2", "the dead node's rows are gone: bob's and carol's on the live nodes remain")

            // A node started in its place: Alice comes back through it.
            let again = try await ServerProcess.start(database: database.url)
            defer { again.terminate() }
            let (aliceAgain, _) = try await Harness(port: again.port).socket(alice)
            #expect(try await bob0.awaitFrame("presence", "alice is back on the new node") == presenceEvent(alice, online: true))
            for socket in [aliceAgain, carol1, bob0, alice2, carol2] { await socket.close() }
        }
    }

    @Test("a logout on one node closes the token's sockets on every node and the token is refused on every node; a ban earned on one node holds on every node")
    func revocationAndBansAcrossNodes() async throws {
        // One send, then refusals: two refusals close a socket (4429), three such closes ban.
        try await withNodes(3, arguments: ["--send-rate", "0.001", "--send-burst", "1", "--flood-strikes", "1"]) { _, _, nodes in
            let (alice, bob, conversation) = try await nodes[0].pair()
            let (alice0, _) = try await nodes[0].socket(alice)
            let (alice1, _) = try await nodes[1].socket(alice)
            #expect(try await nodes[2].request(.delete, "/v1/tokens/current", token: alice.token).status == .noContent)
            for socket in [alice0, alice1] {
                let closed = try await socket.closed()
                #expect(closed.code == 4401 && closed.reason == "token revoked", "\(closed)")
            }
            for node in nodes {
                #expect(try await node.request(.get, "/v1/me", token: alice.token).status == .unauthorized, "the revoked token on port \(node.port)")
                let socket = try await TestSocket.connect(port: node.port, token: alice.token)
                #expect(try await socket.closed().code == 4401)
            }

            let (bystander, _) = try await nodes[1].socket(bob)
            for flood in 1...3 {
                let (socket, _) = try await nodes[0].socket(bob)
                var n = 0
                while true {
                    n += 1
                    do {
                        try await socket.send(["type": "send", "id": "\(n)", "conversation_id": conversation, "text": "flood \(flood).\(n)", "client_id": UUID().uuidString])
                    } catch {
                        break  // closed for flooding already
                    }
                    guard case .text = try await socket.nextEvent() else { break }
                    guard n < 10 else { throw TestFailure("flood \(flood): not closed after 10 sends") }
                }
            }
            let banned = try await bystander.closed()
            #expect(banned.code == 4403, "bob's socket on another node: \(banned)")
            for node in nodes {
                #expect(try await node.request(.get, "/v1/me", token: bob.token).status == .forbidden, "banned on port \(node.port)")
                let socket = try await TestSocket.connect(port: node.port, token: bob.token)
                #expect(try await socket.closed().code == 4403)
            }
        }
    }

    @Test("a rename by the service on one node reaches the user's sockets on the others: what they send after it carries the new name")
    func renameCrossesNodes() async throws {
        let key = "service-key-of-the-product-backend-0123456789"
        try await withNodes(2, arguments: ["--service-key", key]) { _, _, nodes in
            let made = try await nodes[1].call(.put, "/v1/service/users/ext-fay", token: key, json: ["handle": "fay", "display_name": "Fay"])
            let fay = try #require(made.body["user"]["id"].string, "\(made.raw)")
            let gus = try await nodes[1].signUp("gus")
            let group = try await nodes[1].call(
                .post, "/v1/service/conversations", token: key, json: ["kind": "group", "title": "T", "owner_id": gus.id, "members": [fay]])
            let groupID = try #require(group.body["conversation"]["id"].string, "\(group.raw)")
            let token = try #require(try await nodes[1].call(.post, "/v1/service/users/\(fay)/tokens", token: key).body["token"].string)
            let (faySocket, _) = try await TestSocket.ready(port: nodes[0].port, token: token)
            let (gusSocket, _) = try await nodes[1].socket(gus)

            // Renamed on node 2, then a message posted there: once Fay's
            // socket on node 1 has it, node 1 has had the rename too (a
            // node's events come in commit order).
            let renamed = try await nodes[1].call(.put, "/v1/service/users/ext-fay", token: key, json: ["display_name": "Fay Fenn"])
            #expect(renamed.status == .ok, "\(renamed.raw)")
            let posted = try await nodes[1].call(
                .post, "/v1/service/conversations/\(groupID)/messages", token: key, json: ["as": gus.id, "text": "hi", "client_id": "g1"])
            #expect(posted.status == .created, "\(posted.raw)")
            _ = try await faySocket.awaitFrame("message", "Fay gets Gus's message on node 1")
            _ = try await gusSocket.awaitFrame("message", "Gus's own socket gets his message")

            try await faySocket.send(["type": "send", "id": "1", "conversation_id": groupID, "text": "same me", "client_id": "f1"])
            _ = try await faySocket.awaitFrame("ack", "Fay's ack")
            let sender = try await gusSocket.awaitFrame("message", "Gus gets Fay's message on node 2")["message"]["sender"]
            #expect(sender["id"].string == fay && sender["display_name"].string == "Fay Fenn", "\(sender)")
            await faySocket.close()
            await gusSocket.close()
        }
    }

    @Test("the limit of sessions per user counts every node's: with 3 allowed, two on one node and one on another fill it; a fourth is closed 1008 on any node; a close anywhere frees a place anywhere")
    func sessionLimitAcrossNodes() async throws {
        try await withNodes(3, arguments: ["--max-sessions", "3"]) { _, _, nodes in
            let alice = try await nodes[0].signUp("alice")
            let (a0, _) = try await nodes[0].socket(alice)
            let (b0, _) = try await nodes[0].socket(alice)
            let (c1, _) = try await nodes[1].socket(alice)
            for node in nodes {
                let refused = try await TestSocket.connect(port: node.port, token: alice.token)
                let closed = try await refused.closed()
                #expect(closed.code == 1008 && closed.reason == "too many sessions: at most 3 per user", "port \(node.port): \(closed)")
                #expect(closed.framesBefore.isEmpty, "no ready before the refusal: \(closed.framesBefore)")
            }
            for socket in [a0, b0, c1] { try await socket.expectAlive() }

            // A close on node 1 frees a place, taken on node 2 (the node
            // records the close a moment after the socket goes: retry briefly).
            await c1.close()
            let deadline = ContinuousClock.now + .seconds(5)
            var admitted: TestSocket?
            while admitted == nil, ContinuousClock.now < deadline {
                admitted = try? await nodes[2].socket(alice).0
                if admitted == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let d2 = try #require(admitted, "a place freed on node 1 is taken on node 2")
            let refused = try await TestSocket.connect(port: nodes[1].port, token: alice.token)
            #expect(try await refused.closed().code == 1008, "full again")
            for socket in [a0, b0, d2] { await socket.close() }
        }
    }
}
