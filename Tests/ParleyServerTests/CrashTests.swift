import Foundation
import Testing

/// The real binary, killed with SIGKILL while messages are in flight.
@Suite("Crash safety", .serialized, .timeLimit(.minutes(2)))
struct CrashTests {
    @Test("every message acknowledged before kill -9 is there after a restart, with seqs 1…N and no gaps")
    func killNine() async throws {
        let database = try TestDatabase()
        let path = database.configuration.databasePath
        let server = try await ServerProcess.start(database: path)
        let h = Harness(port: server.port)
        let alice = try await h.signUp("alice")
        let bob = try await h.signUp("bob")
        let conversation = try await h.direct(alice, bob)

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
        var stored: [JSON] = []
        var cursor = 0
        while true {
            let page = try await after.history(alice, conversation, query: "after=\(cursor)&limit=200")
            if page.isEmpty { break }
            stored += page
            cursor = page.last!["seq"].int!
        }
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
}
