import Foundation
import Testing

/// The real binary, killed with SIGKILL while messages are in flight.
@Suite("Crash safety", .serialized, .timeLimit(.minutes(2)))
struct CrashTests {
    @Test("every message acknowledged before kill -9 is there after a restart, with seqs 1…N and no gaps")
    func killNine() async throws {
        let database = try await TestDatabase()
        let path = database.configuration.databasePath
        let server = try await ServerProcess.start(database: path)
        let h = Harness(port: server.port)
        let (alice, bob, conversation) = try await h.pair()

        // Three sessions send as fast as the window allows; the process is
        // killed after some acks have arrived, with more sends in flight.
        let sockets = [try await h.socket(alice).0, try await h.socket(alice).0, try await h.socket(bob).0]
        let acked = try await withThrowingTaskGroup(of: [(seq: Int, id: String)].self) { group in
            for (index, socket) in sockets.enumerated() {
                group.addTask {
                    let sender = Task {
                        for n in 0..<2_000 {
                            try await socket.send(["type": "send", "conversation_id": conversation, "text": "m\(n)", "client_id": "\(index)-\(n)"])
                        }
                    }
                    defer { sender.cancel() }
                    var acks: [(seq: Int, id: String)] = []
                    while true {
                        guard case .text(let text) = try await socket.nextEvent() else { return acks }
                        let frame = try JSON.parse(text)
                        if frame["type"].string == "ack" { acks.append((frame["seq"].int!, frame["message_id"].string!)) }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(400))
                server.kill()
                return []
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(acked.count > 0, "some sends were acknowledged before the kill")

        let restarted = try await ServerProcess.start(database: path)
        defer { restarted.terminate() }
        let after = Harness(port: restarted.port)
        let stored = try await after.wholeHistory(alice, conversation)
        let storedSeqs = stored.map { $0["seq"].int! }
        #expect(storedSeqs == Array(1...max(1, storedSeqs.count)).prefix(storedSeqs.count).map { $0 }, "no gaps, no repeats")
        let storedIDs = Dictionary(uniqueKeysWithValues: stored.map { ($0["seq"].int!, $0["id"].string!) })
        for ack in acked {
            #expect(storedIDs[ack.seq] == ack.id, "acknowledged message \(ack.seq) survived with its id")
        }
        // And the conversation carries on from where it was.
        let reply = try await after.request(
            .post, "/v1/conversations/\(conversation)/messages", token: alice.token, json: ["text": "after the crash", "client_id": "post-crash"])
        #expect(reply.body["message"]["seq"].int == storedSeqs.count + 1)
    }

    @Test("SIGTERM drains: every session gets notice draining and 1001, every acknowledged message is stored, the process exits within 10 s")
    func sigtermDrains() async throws {
        let database = try await TestDatabase()
        let path = database.configuration.databasePath
        let server = try await ServerProcess.start(database: path)
        let h = Harness(port: server.port)
        let (alice, bob, conversation) = try await h.pair()
        let sockets = [try await h.socket(alice).0, try await h.socket(bob).0, try await h.socket(bob).0]

        typealias Ending = (acks: [Int], frames: [String], close: Int?)
        let ended: [Ending] = try await withThrowingTaskGroup(of: Ending?.self) { group in
            for (index, socket) in sockets.enumerated() {
                group.addTask {
                    let sender = Task {
                        for n in 0..<5_000 {
                            try await socket.send(["type": "send", "conversation_id": conversation, "text": "m\(n)", "client_id": "\(index)-\(n)"])
                        }
                    }
                    defer { sender.cancel() }
                    var acks: [Int] = [], frames: [String] = []
                    while true {
                        switch try await socket.nextEvent(timeout: .seconds(15)) {
                        case .text(let text):
                            let frame = try JSON.parse(text)
                            let type = frame["type"].string ?? "?"
                            if type == "ack" { acks.append(frame["seq"].int!) } else if type != "message" { frames.append(type) }
                        case .binary: continue
                        case .closed(let code, _): return (acks, frames, code)
                        }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(400))
                let took = server.terminate()
                #expect(took < .seconds(10), "exited \(took) after SIGTERM")
                #expect(server.exitStatus == 0)
                return nil
            }
            var endings: [Ending] = []
            for try await result in group { if let result { endings.append(result) } }
            return endings
        }
        for result in ended {
            #expect(result.close == 1001, "closed with \(result.close.map(String.init) ?? "nothing")")
            #expect(result.frames.contains("notice"), "told before the close: \(result.frames.prefix(5))")
        }
        let acked = ended.flatMap(\.acks)
        #expect(!acked.isEmpty)

        let restarted = try await ServerProcess.start(database: path)
        defer { restarted.terminate() }
        let after = Harness(port: restarted.port)
        var storedSeqs: Set<Int> = []
        var cursor = 0
        while true {
            let page = try await after.history(alice, conversation, query: "after=\(cursor)&limit=200")
            if page.isEmpty { break }
            for message in page { storedSeqs.insert(message["seq"].int!) }
            cursor = page.last!["seq"].int!
        }
        #expect(Set(acked).isSubset(of: storedSeqs), "every acknowledged message was stored")
    }
}
