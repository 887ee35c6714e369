import Foundation
import Synchronization
import Testing

/// Three real `parley serve` nodes on one PostgreSQL database as one server,
/// with Debian's nginx in front as scripts/cluster runs it, when things
/// fail: a node killed with SIGKILL under traffic, PostgreSQL restarted
/// under traffic. Clients behave as PROTOCOL §4.8 and §8 tell them to:
/// reconnect through the balancer, catch up with `history` after their last
/// seq, resend what got no `ack` with the same `client_id`.
@Suite(
    "Cluster failover: nodes behind nginx, a node killed, PostgreSQL restarted", .serialized,
    .enabled(if: ScratchPostgres.server != nil), .timeLimit(.minutes(5)))
struct ClusterFailoverTests {
    /// Three nodes on one fresh database, and nginx in front of them.
    private func withCluster(_ body: (ScratchPostgres, [ServerProcess], Nginx) async throws -> Void) async throws {
        let database = try await ScratchPostgres()
        defer { database.drop() }
        var processes: [ServerProcess] = []
        defer { for process in processes { process.terminate() } }
        for _ in 0..<3 { processes.append(try await ServerProcess.start(database: database.url)) }
        let nginx = try Nginx(nodePorts: processes.map(\.port))
        defer { nginx.stop() }
        try await body(database, processes, nginx)
    }

    @Test("three nodes behind nginx: two people chat through the load balancer; presence, receipts and typing cross nodes")
    func chatThroughNginx() async throws {
        try await withCluster { database, processes, nginx in
            let balancer = Harness(port: nginx.port)
            let (alice, bob, conversation) = try await balancer.pair()
            // Two WebSockets through nginx, one after the other: round robin
            // puts them on two nodes (cluster_presence says which).
            let (bobSocket, _) = try await TestSocket.ready(port: nginx.port, token: bob.token, ignoring: [])
            let (aliceSocket, _) = try await TestSocket.ready(port: nginx.port, token: alice.token)
            let bobNodes = try await database.waitForNodes(of: bob, count: 1)
            let aliceNodes = try await database.waitForNodes(of: alice, count: 1)
            try #require(bobNodes.isDisjoint(with: aliceNodes), "round robin put Alice and Bob on two nodes: \(aliceNodes) \(bobNodes)")

            #expect(try await bobSocket.awaitFrame("presence", "bob sees alice come online") == presenceEvent(alice, online: true))
            for process in processes { try await Harness(port: process.port).expectOnline(alice, true, asking: bob) }

            try await aliceSocket.send(["type": "send", "id": "s1", "conversation_id": conversation, "text": "hello through nginx", "client_id": "a1"])
            let aliceAck = try await aliceSocket.awaitFrame("ack", "alice's ack")
            #expect(aliceAck["seq"].int == 1 && aliceAck["duplicate"].bool == false, "\(aliceAck)")
            let toBob = try await bobSocket.awaitFrame("message", "bob gets alice's message from her node")
            #expect(toBob["message"]["seq"].int == 1 && toBob["message"]["id"].string == aliceAck["message_id"].string)
            #expect(toBob["message"]["text"].string == "hello through nginx" && toBob["message"]["sender"]["id"].string == alice.id)
            #expect(toBob["message"]["client_id"].isNull, "client_id is shown to its sender only")

            try await bobSocket.send(["type": "send", "id": "s2", "conversation_id": conversation, "text": "hello back", "client_id": "b1"])
            let bobAck = try await bobSocket.awaitFrame("ack", "bob's ack")
            #expect(bobAck["seq"].int == 2, "\(bobAck)")
            let toAlice = try await aliceSocket.awaitFrame("message", "alice gets bob's message from his node")
            #expect(toAlice["message"]["seq"].int == 2 && toAlice["message"]["text"].string == "hello back")

            try await bobSocket.send(["type": "typing", "conversation_id": conversation])
            let bobTyping = try await aliceSocket.awaitFrame("typing", "alice sees bob typing")
            #expect(bobTyping["user_id"].string == bob.id && bobTyping["conversation_id"].string == conversation)
            try await aliceSocket.send(["type": "typing", "conversation_id": conversation])
            let aliceTyping = try await bobSocket.awaitFrame("typing", "bob sees alice typing")
            #expect(aliceTyping["user_id"].string == alice.id)

            try await aliceSocket.send(["type": "read", "id": "r1", "conversation_id": conversation, "seq": 2])
            let ok = try await aliceSocket.awaitFrame("ok", "alice's read is answered")
            #expect(ok["re"].string == "r1")
            let receipt = try await bobSocket.awaitFrame("receipt", "bob gets alice's receipt")
            #expect(receipt["user_id"].string == alice.id && receipt["seq"].int == 2 && receipt["conversation_id"].string == conversation)

            let history = try await balancer.history(bob, conversation)
            #expect(history.map { $0["seq"].int ?? -1 } == [1, 2])
            #expect(history.map { $0["text"].string ?? "" } == ["hello through nginx", "hello back"])

            // Her only session ends: Bob, on another node, sees her go offline.
            await aliceSocket.close()
            let offline = try await bobSocket.awaitFrame("presence", "bob sees alice go offline")
            #expect(offline["user_id"].string == alice.id && offline["online"].bool == false && offline["last_seen_ts"].int != nil, "\(offline)")
            for process in processes { try await Harness(port: process.port).expectOnline(alice, false, asking: bob) }
            await bobSocket.close()

            // nginx's own word: the two upgrades were answered by two nodes.
            let deadline = ContinuousClock.now + .seconds(3)
            while nginx.upstreams(path: "/v1/ws", status: 101).count < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            let upgrades = nginx.upstreams(path: "/v1/ws", status: 101)
            #expect(upgrades.count == 2 && Set(upgrades).count == 2, "upgrades answered by \(upgrades)")
            #expect(Set(upgrades).isSubset(of: processes.map(\.port)))
        }
    }

    @Test("kill -9 of a node during traffic, through nginx: no acknowledged message lost; every surviving session gets every message once and in order; the dead node's users go offline for their contacts within 15 s; their clients reconnect through nginx and catch up with no gap")
    func killNodeUnderTraffic() async throws {
        try await withCluster { database, processes, nginx in
            let balancer = Harness(port: nginx.port)
            let direct = processes.map { Harness(port: $0.port) }
            var senders: [TestUser] = []
            for handle in ["ann", "ben", "cat", "dan"] { senders.append(try await balancer.signUp(handle)) }
            // Eve only listens, on every node; Fay is only on the node that
            // dies and does not come back.
            let eve = try await balancer.signUp("eve")
            let fay = try await balancer.signUp("fay")
            let group = try await balancer.group(senders[0], members: Array(senders.dropFirst()) + [eve, fay])

            // Eve on each node in turn, directly: the row each adds to
            // cluster_presence names that node.
            var eves: [Recorder] = []
            var nodeIDs: [String] = []
            for node in direct {
                eves.append(Recorder(try await node.socket(eve, ignoring: []).0))
                let nodes = try await database.waitForNodes(of: eve, count: nodeIDs.count + 1)
                nodeIDs.append(try #require(nodes.subtracting(nodeIDs).first))
            }
            // The senders, through nginx, one after the other: round robin
            // spreads them over the nodes.
            var senderSockets: [TestSocket] = []
            var senderNodes: [Int] = []
            for sender in senders {
                senderSockets.append(try await TestSocket.ready(port: nginx.port, token: sender.token).0)
                let node = try #require(try await database.waitForNodes(of: sender, count: 1).first)
                senderNodes.append(try #require(nodeIDs.firstIndex(of: node)))
            }
            #expect(Set(senderNodes).count == 3, "round robin spread the four senders over the three nodes: \(senderNodes)")
            // Ann's node dies: it carries at least one sender.
            let victim = senderNodes[0]
            let survivors = (0..<3).filter { $0 != victim }
            let fays = Recorder(try await direct[victim].socket(fay).0)
            // Eve's sessions on the surviving nodes see everyone online first.
            for index in survivors {
                let online = await eves[index].wait(.seconds(5)) { recorder in
                    Set(recorder.presence().filter { $0.frame["online"].bool == true }.compactMap { $0.frame["user_id"].string })
                        .isSuperset(of: (senders + [fay]).map(\.id))
                }
                #expect(online, "eve on node \(index) saw the senders and fay come online")
            }

            let perSender = 60
            let total = perSender * senders.count
            let progress = AckCount()
            let killedAt = Shared<ContinuousClock.Instant?>(nil)
            let reports = try await withThrowingTaskGroup(of: (Int, SenderReport)?.self) { tasks in
                for (index, sender) in senders.enumerated() {
                    let socket = senderSockets[index]
                    tasks.addTask {
                        let report = try await runSender(
                            sender, socket: socket, reconnectPort: nginx.port, conversation: group, count: perSender, total: total,
                            progress: progress)
                        return (index, report)
                    }
                }
                tasks.addTask {
                    // Mid-traffic: once a third of the messages are acknowledged.
                    while progress.acked < total / 3 { try await Task.sleep(for: .milliseconds(5)) }
                    killedAt.set(.now)
                    processes[victim].kill()
                    return nil
                }
                var reports: [SenderReport?] = Array(repeating: nil, count: senders.count)
                for try await result in tasks {
                    if case let (index, report)? = result { reports[index] = report }
                }
                return reports.compactMap { $0 }
            }
            let killed = try #require(killedAt.value)
            #expect(progress.acked == total)

            // Who died, who reconnected: exactly the senders on the dead node.
            for (index, report) in reports.enumerated() {
                if senderNodes[index] == victim {
                    #expect(report.reconnects.count == 1, "\(report.handle)'s socket died with its node; reconnected \(report.reconnects.count) times")
                } else {
                    #expect(report.reconnects.isEmpty, "\(report.handle)'s socket, on a surviving node, was not cut")
                }
            }

            // Every acknowledged message is stored once, with the seq and id
            // of its ack; seqs 1…N with no gap.
            let stored = try await balancer.wholeHistory(eve, group)
            #expect(stored.map { $0["seq"].int ?? -1 } == Array(1...total), "seqs 1…\(total) with no gap or repeat: got \(stored.count) messages")
            let byClientID = Dictionary(stored.map { ($0["text"].string ?? "", $0) }) { first, _ in first }
            #expect(byClientID.count == stored.count, "each client_id stored once (the text is the client_id)")
            for report in reports {
                #expect(report.acks.count == perSender)
                for (clientID, ack) in report.acks {
                    #expect(
                        byClientID[clientID]?["seq"].int == ack.seq && byClientID[clientID]?["id"].string == ack.id,
                        "acknowledged \(clientID) (seq \(ack.seq)) is stored as acknowledged: \(byClientID[clientID].map(String.init(describing:)) ?? "missing")")
                }
            }

            // Every session that lived through it got every message once, in
            // seq order; the senders' own come as acks.
            for (index, report) in reports.enumerated() {
                // A resent message stored before the node died comes to the
                // new session as a duplicate ack, and may come as a message
                // too (the sender's other sessions get it).
                let resentStored = Set(report.duplicates.compactMap { report.acks[$0]?.seq })
                for (number, session) in report.sessions.enumerated() {
                    #expect(session.messages == session.messages.sorted() && Set(session.messages).count == session.messages.count,
                            "\(report.handle)'s session \(number): messages once and in seq order")
                    #expect(Set(session.messages).intersection(session.acks).isSubset(of: number == 0 ? [] : resentStored),
                            "\(report.handle)'s session \(number): no message event for the sends it made")
                }
                if senderNodes[index] != victim {
                    let session = report.sessions[0]
                    #expect(Set(session.messages).union(session.acks) == Set(1...total) && session.messages.count + Set(session.acks).count == total,
                            "\(report.handle), on a surviving node, got every message once: \(missing(from: session.messages + session.acks, total: total))")
                } else {
                    // Before the node died and after the reconnect, with the
                    // history that fills what was missed: no gap.
                    let seen = report.sessions.flatMap { $0.messages + $0.acks } + report.history
                    #expect(Set(seen) == Set(1...total), "\(report.handle) caught up with no gap: \(missing(from: seen, total: total))")
                    #expect(report.historyAfter.first.map { $0 >= 0 } ?? false, "\(report.handle) asked for history after its last seq")
                }
            }
            for index in survivors {
                let complete = await eves[index].wait(.seconds(15)) { $0.messageSeqs(in: group).count >= total }
                let seqs = eves[index].messageSeqs(in: group)
                #expect(complete && seqs == Array(1...total),
                        "eve on surviving node \(index) got every message once, in order: \(seqs.count), \(missing(from: seqs, total: total)); missing by sender: \(missingBySender(seqs, stored: stored))")
            }
            // The sessions on the dead node got, until it died, every message in order with no gap.
            for (name, recorder) in [("eve", eves[victim]), ("fay", fays)] {
                let seqs = recorder.messageSeqs(in: group)
                #expect(seqs == Array(1..<(seqs.count + 1)), "\(name) on the dead node: 1…k in order until it died")
                #expect(recorder.closedAt != nil, "\(name)'s session on the dead node ended")
            }

            // Fay's only session was on the dead node: Eve, on each surviving
            // node, hears she went offline within 15 s of the kill.
            for index in survivors {
                let heard = await eves[index].wait(.seconds(20)) { recorder in
                    recorder.presence(of: fay.id).contains { $0.at > killed && $0.frame["online"].bool == false }
                }
                let offline = eves[index].presence(of: fay.id).first { $0.at > killed && $0.frame["online"].bool == false }
                #expect(heard, "eve on node \(index) heard fay go offline after her node died")
                if let offline {
                    #expect(offline.at - killed < .seconds(15), "fay announced offline on node \(index) \(offline.at - killed) after the kill")
                    #expect(offline.frame["last_seen_ts"].int != nil, "\(offline.frame)")
                    print("ClusterFailoverTests: fay offline on node \(index) \(offline.at - killed) after the kill")
                }
            }
            // The senders who reconnected never looked offline: they had a
            // session on another node when the dead one was given up.
            try await Task.sleep(for: .seconds(1))
            for (index, report) in reports.enumerated() where senderNodes[index] == victim {
                for eveIndex in survivors {
                    let flaps = eves[eveIndex].presence(of: senders[index].id).filter { $0.at > killed }
                    #expect(flaps.isEmpty, "\(report.handle) reconnected at once: no presence change for eve on node \(eveIndex): \(flaps.map(\.frame))")
                }
            }
            for index in survivors {
                try await direct[index].expectOnline(fay, false, asking: eve)
                for sender in senders { try await direct[index].expectOnline(sender, true, asking: eve) }
            }
            #expect(try await database.value("SELECT count(*)::text FROM cluster_presence WHERE node = '\(nodeIDs[victim])'") == "0",
                    "the dead node's presence rows are gone")

            for report in reports {
                let took = report.reconnects.map { $0.ready - $0.died }
                print("ClusterFailoverTests: \(report.handle): reconnects \(took), resent \(report.resent), duplicate acks \(report.duplicates)")
            }
            for recorder in eves + [fays] { await recorder.close() }
            for report in reports { await report.socket?.close() }
        }
    }

    @Test(
        "PostgreSQL restarted under a cluster of three: every node recovers by itself and nothing acknowledged is lost")
    func postgresRestartUnderCluster() async throws {
        let postgres = try ThrowawayPostgres()
        defer { postgres.stop() }
        var processes: [ServerProcess] = []
        defer { for process in processes { process.terminate() } }
        for _ in 0..<3 { processes.append(try await ServerProcess.start(database: postgres.url)) }
        let nodes = processes.map { Harness(port: $0.port) }
        var senders: [TestUser] = []
        for (index, handle) in ["ann", "ben", "cat"].enumerated() { senders.append(try await nodes[index].signUp(handle)) }
        let dave = try await nodes[0].signUp("dave")
        let group = try await nodes[1].group(senders[0], members: Array(senders.dropFirst()) + [dave])
        // Dave listens on every node; each sender is on a node of its own.
        var listeners: [Recorder] = []
        for node in nodes { listeners.append(Recorder(try await node.socket(dave, ignoring: []).0)) }
        var senderSockets: [TestSocket] = []
        for (index, sender) in senders.enumerated() { senderSockets.append(try await nodes[index].socket(sender).0) }

        let outage = Outage()
        let sent = try await withThrowingTaskGroup(of: (Int, SentDuringOutage)?.self) { tasks in
            for (index, sender) in senders.enumerated() {
                let socket = senderSockets[index]
                tasks.addTask {
                    // A client waits a moment after a refusal before it sends on.
                    let sent = try await socket.sendUntilOver(
                        outage, lastRestart: Outage.restartCount, conversation: group, prefix: sender.handle, pauseAfterRefusal: .milliseconds(50))
                    return (index, sent)
                }
            }
            tasks.addTask {
                // Long enough for every node to reconnect and store more.
                try await outage.restart(postgres, settle: .seconds(4))
                return nil
            }
            var sent = Array(repeating: SentDuringOutage(), count: senders.count)
            for try await result in tasks {
                if case let (index, result)? = result { sent[index] = result }
            }
            return sent
        }
        let acked = sent.reduce(into: [String: Ack]()) { $0.merge($1.acked) { first, _ in first } }
        let failed = sent.flatMap(\.failed)
        #expect(acked.count > 50, "traffic flowed: \(acked.count) acks")
        print("ClusterFailoverTests: PostgreSQL restarts: \(acked.count) acked, \(failed.count) refused, after the last restart per node \(sent.map(\.ackedAfterLastRestart))")

        // Every node is ready again, by itself.
        for (index, node) in nodes.enumerated() {
            let started = ContinuousClock.now
            let ready = try await node.waitFor(.ok, at: "/readyz", within: .seconds(20))
            #expect(ready, "node \(index) answers /readyz 200 within 20 s")
            print("ClusterFailoverTests: node \(index) ready \(ContinuousClock.now - started) after the traffic ended")
        }
        // A write in flight when PostgreSQL went away may wait for its 10 s
        // deadline (ARCHITECTURE, Deadlines) before it is answered; that each
        // node stores again by itself is checked below, each sending once.

        // The sends refused during the outage, retried with their client_id
        // on another node: each is stored once (a refused send may still
        // have committed: then the retry answers duplicate).
        var retried: [String: Ack] = [:]
        /// Refused, yet committed: the retry answered duplicate.
        var refusedButStored: [Int] = []
        for (index, result) in sent.enumerated() where !result.failed.isEmpty {
            let (socket, _) = try await nodes[(index + 1) % 3].socket(senders[index])
            for clientID in result.failed {
                try await socket.send(["type": "send", "id": clientID, "conversation_id": group, "text": clientID, "client_id": clientID])
                let frame = try await socket.awaitReply(to: clientID)
                #expect(frame["type"].string == "ack", "retry of \(clientID): \(frame)")
                retried[clientID] = Ack(seq: frame["seq"].int ?? -1, id: frame["message_id"].string ?? "")
                if frame["duplicate"].bool == true, let seq = frame["seq"].int { refusedButStored.append(seq) }
            }
            await socket.close()
        }

        print("ClusterFailoverTests: \(failed.count) refused sends retried, \(refusedButStored.count) of them stored already (duplicate): seqs \(refusedButStored.sorted())")

        // Every node stores again, and cross-node delivery works again: a
        // message sent on each node reaches Dave's session on another.
        var crossed: [String: Ack] = [:]
        for (from, to) in [(0, 2), (1, 0), (2, 1)] {
            let clientID = "cross-\(from)-\(to)"
            try await senderSockets[from].send(["type": "send", "id": clientID, "conversation_id": group, "text": clientID, "client_id": clientID])
            let ack = try await senderSockets[from].awaitReply(to: clientID)
            let seq = try #require(ack["seq"].int, "\(clientID): \(ack)")
            crossed[clientID] = Ack(seq: seq, id: ack["message_id"].string ?? "")
            let arrived = await listeners[to].wait(.seconds(10)) { $0.messageSeqs(in: group).contains(seq) }
            #expect(arrived, "a message sent on node \(from) reached dave's session on node \(to)")
        }

        // History: complete, every ack there.
        let stored = try await nodes[1].wholeHistory(dave, group)
        try #require(!stored.isEmpty)
        let seqs = stored.map { $0["seq"].int ?? -1 }
        #expect(seqs == Array(1..<(seqs.count + 1)), "seqs 1…N with no gap or repeat")
        let byClientID = Dictionary(stored.map { ($0["text"].string ?? "", $0) }) { first, _ in first }
        #expect(byClientID.count == stored.count, "each client_id stored once")
        for (clientID, ack) in acked.merging(retried, uniquingKeysWith: { first, _ in first }).merging(crossed, uniquingKeysWith: { first, _ in first }) {
            #expect(byClientID[clientID]?["seq"].int == ack.seq && byClientID[clientID]?["id"].string == ack.id,
                    "acknowledged \(clientID) (seq \(ack.seq)) is stored as acknowledged")
        }
        #expect(Set(byClientID.keys) == Set(acked.keys).union(failed).union(crossed.keys), "nothing else is stored")

        // Dave's sessions on every node got every message once, in order
        // (late allowed), and nobody looked offline: no session closed.
        for (index, listener) in listeners.enumerated() {
            let complete = await listener.wait(.seconds(15)) { $0.messageSeqs(in: group).count >= stored.count }
            let got = listener.messageSeqs(in: group)
            #expect(complete && got == Array(1...stored.count),
                    "dave on node \(index) got every message once, in order: \(got.count) of \(stored.count), \(missing(from: got, total: stored.count)); missing by sender (ann on node 0, ben on 1, cat on 2): \(missingBySender(got, stored: stored)); of them refused at first, yet stored: \(Set(refusedButStored).subtracting(got).sorted())")
            #expect(listener.closedAt == nil, "dave's session on node \(index) lived through the restarts")
            let offline = listener.presence().filter { $0.frame["online"].bool == false }
            #expect(offline.isEmpty, "nobody went offline for dave on node \(index): \(offline.map(\.frame))")
        }
        for node in nodes {
            for sender in senders { try await node.expectOnline(sender, true, asking: dave) }
        }
        for listener in listeners { await listener.close() }
        for socket in senderSockets { await socket.close() }
        for (index, process) in processes.enumerated() {
            #expect(await process.terminate(within: .seconds(20)), "node \(index) stopped by itself when told to")
        }
    }
}

// MARK: - Senders

/// What one sender of the kill -9 test saw, session by session.
private struct SenderReport: Sendable {
    struct Session: Sendable {
        /// The seqs of the `message` events, in arrival order.
        var messages: [Int] = []
        /// The seqs of its acks (duplicates included), in arrival order.
        var acks: [Int] = []
    }

    let handle: String
    /// The first ack of each client_id.
    var acks: [String: Ack] = [:]
    var sessions = [Session()]
    /// The seqs of the `history` replies after a reconnect.
    var history: [Int] = []
    /// The `after` of each history request.
    var historyAfter: [Int] = []
    var reconnects: [(died: ContinuousClock.Instant, ready: ContinuousClock.Instant)] = []
    /// The client_ids sent again after a reconnect.
    var resent: [String] = []
    /// Acks with `duplicate: true`.
    var duplicates: [String] = []
    /// The session open at the end, for the test to close.
    var socket: TestSocket?

    /// Every seq this client holds: live, acknowledged, or from history.
    var seen: Set<Int> { Set(sessions.flatMap { $0.messages + $0.acks } + history) }
}

/// Acks counted across the senders, for the moment of the kill.
private final class AckCount: Sendable {
    private let count = Mutex(0)
    var acked: Int { count.withLock { $0 } }
    func add() { count.withLock { $0 += 1 } }
}

/// A value shared with child tasks.
private final class Shared<Value: Sendable>: Sendable {
    private let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    var value: Value { state.withLock { $0 } }
    func set(_ value: Value) { state.withLock { $0 = value } }
}

/// A client as PROTOCOL §4.8 describes one: sends `count` messages with
/// client_ids, two at a time; if its socket dies, reconnects through the
/// balancer at `reconnectPort`, asks for `history` after the highest seq it
/// holds with no gap below, and resends every send that got no ack with its
/// client_id. Returns once every send is acknowledged and it holds every
/// seq 1…`total`.
private func runSender(
    _ sender: TestUser, socket first: TestSocket, reconnectPort: Int, conversation: String, count: Int, total: Int, progress: AckCount
) async throws -> SenderReport {
    var report = SenderReport(handle: sender.handle)
    var socket = first
    var next = 0
    var pending: [String] = []
    var historyRequest: String?
    let window = 2

    func sendFrame(_ clientID: String, on socket: TestSocket) async throws {
        try await socket.send(["type": "send", "id": clientID, "conversation_id": conversation, "text": clientID, "client_id": clientID])
    }

    while true {
        if report.acks.count == count, pending.isEmpty, historyRequest == nil, report.seen.isSuperset(of: 1...total) { break }
        var died = false
        while pending.count < window, next < count {
            let clientID = "\(sender.handle)-\(next)"
            do {
                try await sendFrame(clientID, on: socket)
            } catch {
                died = true
                break
            }
            pending.append(clientID)
            next += 1
        }
        if !died {
            let event: TestSocket.Event
            do {
                event = try await socket.nextEvent(timeout: .seconds(20))
            } catch {
                throw TestFailure(
                    "\(sender.handle): nothing for 20 s; acked \(report.acks.count) of \(count), waiting for \(pending), history \(historyRequest ?? "none"), \(missing(from: Array(report.seen), total: total))")
            }
            switch event {
            case .binary:
                continue
            case .closed:
                died = true
            case .text(let text):
                let frame = try JSON.parse(text)
                switch frame["type"].string {
                case "ack":
                    guard let re = frame["re"].string, let index = pending.firstIndex(of: re), let seq = frame["seq"].int else {
                        Issue.record("\(sender.handle): an ack for nothing waiting: \(frame)")
                        continue
                    }
                    #expect(index == 0, "\(sender.handle): acks come in the order of the sends: \(re) before \(pending[0])")
                    pending.remove(at: index)
                    let ack = Ack(seq: seq, id: frame["message_id"].string ?? "")
                    if let earlier = report.acks[re] {
                        #expect(earlier == ack, "\(sender.handle): \(re) acknowledged twice differently: \(earlier) then \(ack)")
                    } else {
                        report.acks[re] = ack
                        progress.add()
                    }
                    if frame["duplicate"].bool == true { report.duplicates.append(re) }
                    report.sessions[report.sessions.count - 1].acks.append(seq)
                case "message":
                    guard frame["message"]["conversation_id"].string == conversation, let seq = frame["message"]["seq"].int else { continue }
                    report.sessions[report.sessions.count - 1].messages.append(seq)
                case "history":
                    guard let request = historyRequest, frame["re"].string == request else { continue }
                    let seqs = frame["messages"].array.compactMap { $0["seq"].int }
                    report.history += seqs
                    if frame["has_more"].bool == true, let last = seqs.last {
                        let id = "h\(report.historyAfter.count)"
                        historyRequest = id
                        report.historyAfter.append(last)
                        try await socket.send(["type": "history", "id": id, "conversation_id": conversation, "after": last, "limit": 200])
                    } else {
                        historyRequest = nil
                    }
                case "error":
                    throw TestFailure("\(sender.handle): \(frame)")
                default:
                    continue
                }
                continue
            }
        }
        // The socket died (its node did): reconnect through the balancer,
        // catch up, resend what got no ack. The old socket's reader has ended.
        let diedAt = ContinuousClock.now
        var held = 0
        let seen = report.seen
        while seen.contains(held + 1) { held += 1 }
        socket = try await reconnect(sender, port: reconnectPort)
        report.reconnects.append((diedAt, .now))
        report.sessions.append(SenderReport.Session())
        let id = "h\(report.historyAfter.count)"
        historyRequest = id
        report.historyAfter.append(held)
        try await socket.send(["type": "history", "id": id, "conversation_id": conversation, "after": held, "limit": 200])
        for clientID in pending {
            try await sendFrame(clientID, on: socket)
            report.resent.append(clientID)
        }
    }
    // Kept open to the end of the test: a session that ends is a presence change.
    report.socket = socket
    return report
}

/// A new session for `user` through the balancer, tried for up to 15 s.
private func reconnect(_ user: TestUser, port: Int) async throws -> TestSocket {
    let deadline = ContinuousClock.now + .seconds(15)
    var lastError: any Error = TestFailure("no attempt")
    while ContinuousClock.now < deadline {
        do {
            return try await TestSocket.ready(port: port, token: user.token).0
        } catch {
            lastError = error
            try await Task.sleep(for: .milliseconds(200))
        }
    }
    throw TestFailure("\(user.handle) could not reconnect through nginx within 15 s: \(lastError)")
}

/// The seqs of 1…`total` not in `seqs`, and those in it twice, for messages.
private func missing(from seqs: [Int], total: Int) -> String {
    let held = Set(seqs)
    let absent = (1...total).filter { !held.contains($0) }
    var counts: [Int: Int] = [:]
    for seq in seqs { counts[seq, default: 0] += 1 }
    let repeated = counts.filter { $0.value > 1 }.keys.sorted()
    return "missing \(absent.prefix(20))\(absent.count > 20 ? "…(\(absent.count))" : ""), repeated \(repeated.prefix(20))"
}

/// How many of the `stored` messages `seqs` lacks, by sender.
private func missingBySender(_ seqs: [Int], stored: [JSON]) -> String {
    let held = Set(seqs)
    var counts: [String: Int] = [:]
    for message in stored where !held.contains(message["seq"].int ?? -1) {
        counts[message["sender"]["handle"].string ?? "?", default: 0] += 1
    }
    return counts.isEmpty ? "none" : counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
}

// MARK: - Listening

/// Reads every frame of a socket in the background and keeps it, with the
/// moment it arrived, for the test to look at later. The recorder alone
/// reads the socket (its inbox has one reader at a time): close it with
/// `close()`.
private final class Recorder: Sendable {
    struct Entry: Sendable {
        let at: ContinuousClock.Instant
        let frame: JSON
    }

    private struct State {
        var entries: [Entry] = []
        var closedAt: ContinuousClock.Instant?
        var stopping = false
    }

    let socket: TestSocket
    private let state = Mutex(State())
    private let reader = Mutex<Task<Void, Never>?>(nil)

    init(_ socket: TestSocket) {
        self.socket = socket
        let task = Task { [self] in await read() }
        reader.withLock { $0 = task }
    }

    private func read() async {
        while !state.withLock({ $0.stopping }) {
            guard let event = try? await socket.nextEvent(timeout: .milliseconds(500)) else { continue }
            let now = ContinuousClock.now
            switch event {
            case .text(let text):
                guard let frame = try? JSON.parse(text) else { continue }
                state.withLock { $0.entries.append(Entry(at: now, frame: frame)) }
            case .binary:
                continue
            case .closed:
                state.withLock { $0.closedAt = now }
                return
            }
        }
    }

    var entries: [Entry] { state.withLock { $0.entries } }
    var closedAt: ContinuousClock.Instant? { state.withLock { $0.closedAt } }

    /// The seqs of the `message` events of `conversation`, in arrival order.
    func messageSeqs(in conversation: String) -> [Int] {
        entries.compactMap { entry in
            guard entry.frame["type"].string == "message", entry.frame["message"]["conversation_id"].string == conversation else { return nil }
            return entry.frame["message"]["seq"].int
        }
    }

    /// The `presence` events, of one user or of all.
    func presence(of userID: String? = nil) -> [Entry] {
        entries.filter { $0.frame["type"].string == "presence" && (userID == nil || $0.frame["user_id"].string == userID) }
    }

    /// Waits until `condition` holds, at most `limit`; answers whether it did.
    func wait(_ limit: Duration, until condition: (Recorder) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while !condition(self) {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    /// Stops reading, then closes the socket unless it ended already.
    func close() async {
        state.withLock { $0.stopping = true }
        await reader.withLock { $0 }?.value
        if closedAt == nil { await socket.close() }
    }
}

// MARK: - Helpers

extension ScratchPostgres {
    /// The nodes (their ids in cluster_presence) where `user` has a session,
    /// once there are `count` of them: `ready` comes once the session is
    /// recorded, or after 2 s; this waits up to 5 s.
    fileprivate func waitForNodes(of user: TestUser, count: Int) async throws -> Set<String> {
        let deadline = ContinuousClock.now + .seconds(5)
        var nodes: Set<String> = []
        while ContinuousClock.now < deadline {
            let text = try await value("""
                SELECT coalesce(string_agg(p.node, ',' ORDER BY p.node), '') FROM cluster_presence p
                JOIN users u ON u.id = p.user_id WHERE u.public_id = '\(user.id)'
                """) ?? ""
            nodes = Set(text.split(separator: ",").map(String.init))
            if nodes.count >= count { return nodes }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("\(user.handle) has sessions on \(nodes.count) nodes, not \(count)")
    }
}

extension TestSocket {
    /// The reply (`ack` or `error`) to the frame with `id`, skipping events.
    fileprivate func awaitReply(to id: String, timeout: Duration = .seconds(15)) async throws -> JSON {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw TestFailure("no reply to \(id) within \(timeout)") }
            let frame = try await next(timeout: left)
            if frame["re"].string == id { return frame }
        }
    }
}
