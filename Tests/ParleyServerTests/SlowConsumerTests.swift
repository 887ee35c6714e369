import Foundation
import Testing

/// A member that stops reading while its group is flooded, against the real
/// binary so that the server's own memory can be read.
@Suite("Slow consumers", .serialized, .timeLimit(.minutes(3)))
struct SlowConsumerTests {
    @Test("a member that never reads is dropped, the others get every message in order, and the server's memory stays bounded")
    func neverReads() async throws {
        let database = try await TestDatabase()
        let server = try await ServerProcess.start(database: database.configuration.databasePath, arguments: ["--max-queued-bytes", "262144"])
        defer { server.terminate() }
        let h = Harness(port: server.port)
        let sender = try await h.signUp("sender")
        let fast1 = try await h.signUp("fast1")
        let fast2 = try await h.signUp("fast2")
        let slow = try await h.signUp("slow")
        let group = try await h.group(sender, members: [fast1, fast2, slow])
        let (senderSocket, _) = try await h.socket(sender)
        let readers = [try await h.socket(fast1).0, try await h.socket(fast2).0]
        let stalled = try await RawSession.open(port: h.port, token: slow.token)
        try await stalled.stopReading()
        #expect(try await h.call(.get, "/v1/users/slow", token: fast1.token).body["online"].bool == true)

        let baseline = try server.residentBytes
        // 20 MB for every member: far more than one session may hold (256 KiB).
        // A batch (160 KB) fits in a reader's queue even if the reader's own
        // process is starved of CPU while the batch is sent: the readers must
        // be able to keep up for the test to mean anything.
        let text = String(repeating: "x", count: 4_000)
        let batches = 125, perBatch = 40
        var peakGrowth = 0
        for batch in 0..<batches {
            for n in 0..<perBatch {
                let seq = batch * perBatch + n
                try await senderSocket.send(["type": "send", "conversation_id": group, "text": text, "client_id": "m\(seq)"])
            }
            var acks = 0
            while acks < perBatch {
                if try await senderSocket.next(timeout: .seconds(30))["type"].string == "ack" { acks += 1 }
            }
            // The readers keep up: each must have this batch, in order.
            for reader in readers {
                var got = 0
                while got < perBatch {
                    let frame = try await reader.next(timeout: .seconds(30))
                    guard frame["type"].string == "message" else { continue }
                    #expect(frame["message"]["seq"].int == batch * perBatch + got + 1)
                    got += 1
                }
            }
            peakGrowth = max(peakGrowth, try server.residentBytes - baseline)
        }

        // The stalled member is dropped (5 s after its queue overflowed, at most).
        var online = true
        let deadline = ContinuousClock.now + .seconds(15)
        while online, ContinuousClock.now < deadline {
            online = try await h.call(.get, "/v1/users/slow", token: fast1.token).body["online"].bool ?? true
            if online { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(!online, "the member that never read was dropped")
        #expect(peakGrowth < 48 << 20, "the server grew by \(peakGrowth >> 20) MiB while 20 MB were sent to a member that never read")
        try await readers[0].expectAlive()
        #expect(try await h.history(fast2, group, query: "before=\(batches * perBatch + 1)&limit=1").first?["seq"].int == batches * perBatch)
        for socket in readers + [senderSocket] { await socket.close() }
        try await stalled.drop()
    }
}
