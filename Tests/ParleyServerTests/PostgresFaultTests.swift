import Foundation
import HTTPTypes
import Testing

/// The real binary on PostgreSQL when PostgreSQL itself fails or is shared.
@Suite("PostgreSQL faults and several servers", .serialized, .enabled(if: ScratchPostgres.server != nil), .timeLimit(.minutes(3)))
struct PostgresFaultTests {
    @Test("PostgreSQL restarted under traffic (-m fast, then -m immediate): sends and reads in flight get an error, never a wait, the server carries on by itself and stops when told, every acknowledged message is there")
    func restartUnderTraffic() async throws {
        let postgres = try ThrowawayPostgres()
        defer { postgres.stop() }
        let server = try await ServerProcess.start(database: postgres.url)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let (alice, bob, conversation) = try await h.pair()
        let outage = Outage()

        // Each task's sends, or its reads answered after the last restart.
        let results = try await withThrowingTaskGroup(of: (sent: SentDuringOutage, readsAfterLastRestart: Int).self) { group in
            for (index, user) in [alice, alice, bob].enumerated() {
                group.addTask {
                    let (socket, _) = try await h.socket(user)
                    let sent = try await socket.sendUntilOver(
                        outage, lastRestart: Outage.restartCount, conversation: conversation, prefix: "\(index)")
                    await socket.close()
                    return (sent, 0)
                }
            }
            // Reads (and the sign-in's off-lane writes) on the pool meanwhile:
            // each answered, 200 or 503, never left waiting.
            for user in [alice, bob] {
                group.addTask {
                    var reads = 0
                    var n = 0
                    while !outage.finished {
                        n += 1
                        let started = ContinuousClock.now
                        let path = n % 2 == 0 ? "/v1/conversations" : "/v1/conversations/\(conversation)/messages?limit=20"
                        let reply = try await h.request(.get, path, token: user.token)
                        #expect(reply.status == .ok || reply.status == .serviceUnavailable, "\(path): \(reply.status) \(reply.body)")
                        #expect(ContinuousClock.now - started < .seconds(15), "\(path) answered within 15 s")
                        if reply.status == .ok, outage.restarts == Outage.restartCount { reads += 1 }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    return (SentDuringOutage(), reads)
                }
            }
            group.addTask {
                // Long enough for the server to reconnect and store more.
                try await outage.restart(postgres, settle: .seconds(3))
                return (SentDuringOutage(), 0)
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let sent = results.map(\.sent)
        let acked = sent.reduce(into: [String: Ack]()) { $0.merge($1.acked) { a, _ in a } }
        let failed = sent.flatMap(\.failed)
        #expect(acked.count > 50, "traffic flowed: \(acked.count) acks")
        #expect(sent.map(\.ackedAfterLastRestart).reduce(0, +) > 0, "the server stored messages again after the last restart, by itself")
        #expect(results.map(\.readsAfterLastRestart).reduce(0, +) > 0, "the server answered reads again after the last restart, by itself")

        // Sends refused during the outage are retried with their client_id:
        // each is stored once (a refused send may still have committed).
        for clientID in failed {
            let sender = clientID.hasPrefix("2-") ? bob : alice
            let reply = try await h.request(
                .post, "/v1/conversations/\(conversation)/messages", token: sender.token, json: ["text": clientID, "client_id": clientID])
            #expect(reply.status == .created || reply.status == .ok, "retry of \(clientID): \(reply.status) \(reply.body)")
        }

        let stored = try await h.wholeHistory(alice, conversation)
        let seqs = stored.map { $0["seq"].int! }
        #expect(seqs == Array(1..<(seqs.count + 1)), "seqs 1…N with no gap or repeat")
        // Each message's text is its client_id (shown to its sender only).
        let byClientID = Dictionary(stored.map { ($0["text"].string!, $0) }) { first, _ in first }
        #expect(byClientID.count == stored.count, "each client_id stored once")
        for (clientID, ack) in acked {
            #expect(byClientID[clientID]?["seq"].int == ack.seq && byClientID[clientID]?["id"].string == ack.id, "acknowledged \(clientID) is there")
        }
        for clientID in failed {
            #expect(byClientID[clientID] != nil, "retried \(clientID) is there")
        }
        #expect(Set(byClientID.keys) == Set(acked.keys).union(failed), "nothing else is there")
        #expect(await server.terminate(within: .seconds(20)), "the server stopped by itself when told to")
    }

    @Test("while PostgreSQL is down the node is alive but not ready (/readyz 503 within 5 s, /healthz 200); ready again by itself once PostgreSQL is back")
    func readinessFollowsTheDatabase() async throws {
        let postgres = try ThrowawayPostgres()
        defer { postgres.stop() }
        let server = try await ServerProcess.start(database: postgres.url)
        defer { server.terminate() }
        let h = Harness(port: server.port)
        #expect(try await h.request(.get, "/readyz").status == .ok)

        try postgres.pause()
        let down = try await h.waitFor(.serviceUnavailable, at: "/readyz", within: .seconds(5))
        #expect(down, "/readyz says 503 while PostgreSQL is down")
        #expect(try await h.request(.get, "/healthz").status == .ok, "the process is alive")

        try postgres.resume()
        let back = try await h.waitFor(.ok, at: "/readyz", within: .seconds(15))
        #expect(back, "/readyz says 200 again once PostgreSQL is back")
    }

    @Test("two servers on one database, the same messages sent to both at once: seqs 1…N with no gap or repeat, each client_id stored once whichever server got it")
    func twoServersOneConversation() async throws {
        let database = try await ScratchPostgres()
        defer { database.drop() }
        let first = try await ServerProcess.start(database: database.url)
        defer { first.terminate() }
        let second = try await ServerProcess.start(database: database.url)
        defer { second.terminate() }
        let nodes = [Harness(port: first.port), Harness(port: second.port)]
        let owner = try await nodes[0].signUp("owner")
        var members: [TestUser] = []
        for handle in ["ann", "ben", "cat"] { members.append(try await nodes[1].signUp(handle)) }
        let created = try await nodes[0].request(
            .post, "/v1/conversations", token: owner.token, json: ["kind": "group", "title": "busy", "members": members.map(\.id)])
        let conversation = try #require(created.body["conversation"]["id"].string)
        let senders = [owner] + members
        let perSender = 100

        // Every message goes to both servers at once, with one client_id.
        let replies = try await withThrowingTaskGroup(of: [(String, JSON)].self) { group in
            for (index, sender) in senders.enumerated() {
                for node in nodes {
                    group.addTask {
                        var replies: [(String, JSON)] = []
                        for n in 0..<perSender {
                            let clientID = "\(index)-\(n)"
                            let reply = try await node.request(
                                .post, "/v1/conversations/\(conversation)/messages", token: sender.token,
                                json: ["text": clientID, "client_id": clientID])
                            #expect(reply.status == .created || reply.status == .ok, "\(reply.status) \(reply.body)")
                            replies.append((clientID, reply.body["message"]))
                        }
                        return replies
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        var answered: [String: JSON] = [:]
        for (clientID, message) in replies {
            if let earlier = answered[clientID] {
                #expect(earlier["id"].string == message["id"].string && earlier["seq"].int == message["seq"].int,
                        "both servers answer \(clientID) with the same message")
            } else {
                answered[clientID] = message
            }
        }
        let total = senders.count * perSender
        let stored = try await nodes[1].wholeHistory(owner, conversation)
        #expect(stored.map { $0["seq"].int! } == Array(1...total), "no gap, no repeat")
        #expect(Set(stored.map { $0["text"].string! }).count == total, "each client_id once (the text is the client_id)")
    }
}

extension Harness {
    /// Polls `path` until it answers `status`; false if it never did in time.
    func waitFor(_ status: HTTPResponse.Status, at path: String, within limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await request(.get, path).status == status { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
