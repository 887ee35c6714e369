import NIOCore
import NIOPosix
import Testing

/// What a bare TCP connection can make the server hold before it has sent a
/// request: its first request head has a deadline, whether it never comes,
/// comes slowly, or is refused by the parser.
@Suite("Connection limits", .timeLimit(.minutes(1)))
struct ConnectionLimitTests {
    /// Connects, writes `bytes`, and returns what the server sent before it
    /// closed the connection; nil if the connection was still open after
    /// `timeout`.
    func exchange(port: Int, _ bytes: String, timeout: Duration = .seconds(5)) async throws -> String? {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            // The server may close while a long head is still being written
            // (the parser refused it): that is the closing we are looking for,
            // so a failed write or a reset still counts as "closed".
            if !bytes.isEmpty { try? await outbound.write(ByteBuffer(string: bytes)) }
            return try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    var received = ""
                    do {
                        for try await chunk in inbound { received += String(buffer: chunk) }
                    } catch {}
                    return received
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
        }
    }

    @Test("a connection that sends nothing, or only part of a request head, is closed at the head timeout; a whole request is served")
    func headTimeout() async throws {
        var database = try await TestDatabase()
        // Long enough that a whole request sent at once is read in time even
        // when the suites load the machine.
        database.configuration.requestHeadTimeout = .milliseconds(1_000)
        try await Harness.live(database.configuration) { h in
            // "" is the server closing; nil would be the test giving up
            // after 5 s (a loaded machine may take a few seconds more than
            // the 1 s timeout, never the connection's life).
            #expect(try await exchange(port: h.port, "") == "", "closed without a word, by the server")
            #expect(try await exchange(port: h.port, "GET /v1/me HTTP/1.1\r\nHost: parley\r\n") == "", "closed by the server")
            let served = try await exchange(port: h.port, "GET /v1/me HTTP/1.1\r\nHost: parley\r\nConnection: close\r\n\r\n")
            #expect(served?.hasPrefix("HTTP/1.1 401") == true, "\(served ?? "still open")")
        }
    }

    @Test("a request head the parser refuses (more than 1,000 fields) is not left open either")
    func refusedHead() async throws {
        var database = try await TestDatabase()
        // Long enough that a whole request sent at once is read in time even
        // when the suites load the machine.
        database.configuration.requestHeadTimeout = .milliseconds(1_000)
        try await Harness.live(database.configuration) { h in
            let fields = (0..<1_200).map { "X-Field-\($0): v\r\n" }.joined()
            let answer = try await exchange(port: h.port, "GET /v1/me HTTP/1.1\r\nHost: parley\r\n\(fields)\r\n")
            #expect(answer == "", "closed at the head timeout, unanswered: \(answer ?? "still open")")
        }
    }

    @Test("a connection still without a request head does not hold up the server's shutdown")
    func shutdownBeforeFirstRequest() async throws {
        var database = try await TestDatabase()
        database.configuration.requestHeadTimeout = .seconds(60)
        let silent = try await Harness.live(database.configuration) { h in
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: h.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return (channel, ContinuousClock.now)
        }
        // Well under the 60 s head deadline, with room for a loaded machine
        // (a PostgreSQL store's closing was seen to take 12 s in CI).
        #expect(ContinuousClock.now - silent.1 < .seconds(30), "the shutdown waited for the head deadline")
        try await silent.0.executeThenClose { inbound, _ in
            for try await _ in inbound { Issue.record("the server sent something") }
        }
    }
}
