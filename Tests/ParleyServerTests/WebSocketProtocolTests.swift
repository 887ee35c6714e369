import Foundation
import Testing

/// The WebSocket protocol as the gateway speaks it (RFC 6455), over raw
/// sockets: pings, the closing handshake, malformed frames, the order of
/// replies, and the server stopping.
@Suite("WebSocket protocol", .timeLimit(.minutes(2)))
struct WebSocketProtocolTests {
    /// A raw socket that has its `ready`.
    func readySocket(_ h: Harness, _ name: String) async throws -> AbuseRawSocket {
        let user = try await h.signUp(name)
        let socket = try await AbuseRawSocket.open(port: h.port, token: user.token)
        guard case .text(let ready) = try await socket.firstFrame() else { throw TestFailure("the socket was refused") }
        #expect(try JSON.parse(ready)["type"].string == "ready")
        return socket
    }

    static func closePayload(_ code: UInt16, _ reason: [UInt8] = []) -> [UInt8] {
        [UInt8(code >> 8), UInt8(code & 0xFF)] + reason
    }

    @Test("a client's ping is answered with a pong carrying its payload")
    func clientPing() async throws {
        try await Harness.live { h in
            let socket = try await readySocket(h, "alice")
            try await socket.sendFrame(opcode: 0x9, Array("are you there".utf8))
            #expect(await socket.next() == .pong("are you there"))
            await socket.drop()
        }
    }

    @Test(
        "the client's close is answered with its code and the server then ends the connection at once; a code that may not be sent is answered 1002, a reason that is not UTF-8 1007, no code 1000",
        arguments: [
            (closePayload(4000, Array("bye".utf8)), 4000),
            (closePayload(1005), 1002),
            (closePayload(999), 1002),
            (closePayload(1000, [0xC3, 0x28]), 1007),
            ([], 1000),
        ] as [([UInt8], Int)])
    func clientClose(payload: [UInt8], answer: Int) async throws {
        try await Harness.live { h in
            let socket = try await readySocket(h, "alice")
            let start = ContinuousClock.now
            try await socket.sendFrame(opcode: 0x8, payload)
            #expect(await socket.eventsToEnd() == [.close(code: answer, reason: ""), .end])
            #expect(ContinuousClock.now - start < .seconds(2), "not left to the close grace period")
        }
    }

    @Test(
        "reserved bits without an extension, an unknown opcode, a continuation with nothing to continue, and a new message inside a fragmented one each close with 1002",
        arguments: [
            [(UInt8(0x1), true, UInt8(0x40))],
            [(UInt8(0x3), true, UInt8(0))],
            [(UInt8(0x0), true, UInt8(0))],
            [(UInt8(0x1), false, UInt8(0)), (UInt8(0x1), true, UInt8(0))],
        ] as [[(UInt8, Bool, UInt8)]])
    func malformedFrames(frames: [(UInt8, Bool, UInt8)]) async throws {
        try await Harness.live { h in
            let socket = try await readySocket(h, "alice")
            for (opcode, fin, flags) in frames {
                try await socket.sendFrame(opcode: opcode, fin: fin, flags: flags, Array(#"{"type":"ping"}"#.utf8))
            }
            let events = await socket.eventsToEnd()
            guard case .close(let code, _)? = events.first else {
                Issue.record("no close frame: \(events)")
                return
            }
            #expect(code == 1002)
            // The client still answers the close, as a client should.
            try? await socket.sendFrame(opcode: 0x8, Self.closePayload(1002))
        }
    }

    @Test("requests are answered in the order they were sent, when the first has to wait for the database and the next would not")
    func repliesInOrder() async throws {
        try await Harness.live { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let (socket, _) = try await h.socket(alice)
            for round in 0..<5 {
                try await socket.send(["type": "history", "id": "h\(round)", "conversation_id": conversation])
                try await socket.send(["type": "ping", "id": "p\(round)"])
            }
            var replies: [String] = []
            while replies.count < 10 {
                let frame = try await socket.next()
                if let re = frame["re"].string { replies.append(re) }
            }
            #expect(replies == (0..<5).flatMap { ["h\($0)", "p\($0)"] })
            await socket.close()
        }
    }

    @Test("sends pipelined past the send window (256) all commit, in order, and are all acknowledged")
    func pastTheSendWindow() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.sendRate = 0
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            let conversation = try await h.direct(alice, bob)
            let (socket, _) = try await h.socket(alice)
            let count = 600
            for n in 1...count {
                try await socket.send(["type": "send", "id": "s\(n)", "conversation_id": conversation, "text": "m\(n)", "client_id": "c\(n)"])
            }
            var acked: [String: Int] = [:]
            while acked.count < count {
                let frame = try await socket.next()
                if frame["type"].string == "ack", let re = frame["re"].string { acked[re] = frame["seq"].int }
                #expect(frame["type"].string != "error", "\(frame)")
            }
            #expect((1...count).allSatisfy { acked["s\($0)"] == $0 }, "each send got the seq of its place in line")
            let last = try await h.history(bob, conversation, query: "before=\(count + 1)&limit=1")
            #expect(last.first?["text"].string == "m\(count)")
            await socket.close()
        }
    }

    @Test("a socket that has not signed in is closed with 1001 when the server stops, without waiting for its sign-in deadline")
    func stopClosesUnsignedSockets() async throws {
        var database = try await TestDatabase()
        // Far beyond the bound below, which leaves room for a busy machine
        // (the suites run in parallel, on PostgreSQL too).
        database.configuration.authTimeout = .seconds(90)
        let start = ContinuousClock.now
        let socket: AbuseRawSocket = try await Harness.live(database.configuration) { h in
            let socket = try await AbuseRawSocket.open(port: h.port)
            #expect(await socket.next() == .status(101))
            return socket
        }
        #expect(await socket.eventsToEnd() == [.close(code: 1001, reason: "server shutting down"), .end])
        #expect(ContinuousClock.now - start < .seconds(45))
    }
}
