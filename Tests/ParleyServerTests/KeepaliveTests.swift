import Foundation
import Testing

/// Keepalive: the server pings every `pingInterval` and closes (4408) a
/// socket that has sent nothing at all, not even a pong, for two intervals;
/// contacts then see the user go offline.
@Suite("Keepalive", .timeLimit(.minutes(2)))
struct KeepaliveTests {
    /// Long enough that a client starved of CPU by the other suites running
    /// beside this one still answers a ping within two intervals.
    static let interval = Duration.seconds(1)

    static func configuration(_ database: inout TestDatabase) {
        database.configuration.abuse.pingInterval = interval
    }

    @Test("a client that answers pings stays open well past two intervals, and the server really pings")
    func answeringClientStays() async throws {
        var database = try await TestDatabase()
        Self.configuration(&database)
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            // Raw clients answer pings on the event loop: the suites running
            // beside this one, which share this process's task threads with
            // the server, cannot delay their pongs. A raw client that sends nothing but pongs: pongs alone keep it open.
            let raw = try await AbuseRawSocket.open(port: h.port, token: alice.token, answerPings: true)
            guard case .text(let ready) = try await raw.firstFrame() else { throw TestFailure("the raw socket was refused") }
            #expect(try JSON.parse(ready)["type"].string == "ready")

            var pings = 0
            let deadline = ContinuousClock.now + Self.interval * 3
            while ContinuousClock.now < deadline {
                guard let event = await raw.next(timeout: deadline - ContinuousClock.now) else { break }
                switch event {
                case .ping:
                    pings += 1
                default:
                    Issue.record("the raw client that answers pings got \(event)")
                }
            }
            // Three intervals: about 3 pings; a loaded machine may delay one.
            #expect(pings >= 2, "pings in three intervals: \(pings)")
            // Still served: the next thing it gets is another ping, not a close.
            let after = await raw.next(timeout: .seconds(2))
            #expect(after.map { if case .ping = $0 { true } else { false } } == true, "got \(String(describing: after))")
            await raw.drop()
        }
    }

    @Test("a client that sends nothing after the upgrade is pinged, then closed with 4408, and its contacts see it go offline")
    func silentClientClosed() async throws {
        var database = try await TestDatabase()
        Self.configuration(&database)
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let bob = try await h.signUp("bob")
            _ = try await h.direct(alice, bob)
            let watcher = try await AbuseRawSocket.open(port: h.port, token: bob.token, answerPings: true)
            guard case .text = try await watcher.firstFrame() else { throw TestFailure("the watcher was refused") }

            let opened = ContinuousClock.now
            let silent = try await AbuseRawSocket.open(port: h.port, token: alice.token, answerPings: false)
            guard case .text(let ready) = try await silent.firstFrame() else { throw TestFailure("the silent socket was refused") }
            #expect(try JSON.parse(ready)["type"].string == "ready")
            #expect(try await Self.nextPresence(watcher) == presenceEvent(alice, online: true))

            var pings = 0
            var close: (code: Int?, reason: String)?
            while close == nil {
                guard let event = await silent.next(timeout: .seconds(10)) else { break }
                switch event {
                case .ping: pings += 1
                case .close(let code, let reason): close = (code, reason)
                case .end: throw TestFailure("the connection ended without a close frame")
                default: Issue.record("unexpected \(event)")
                }
            }
            let closedAfter = ContinuousClock.now - opened
            #expect(close?.code == 4408, "close: \(String(describing: close))")
            #expect(pings >= 1, "the server pinged before giving up")
            // Two intervals at the earliest; a few more at most.
            #expect(closedAfter >= Self.interval * 2, "closed after \(closedAfter)")
            #expect(closedAfter < Self.interval * 8, "closed after \(closedAfter)")

            // The client never answers the close either, as a dead one would not:
            // the server gives up on it and its contacts see it go offline.
            let offline = try await Self.nextPresence(watcher)
            #expect(offline["user_id"].string == alice.id)
            #expect(offline["online"].bool == false)
            #expect(offline["last_seen_ts"].int != nil)
            await silent.drop()
            await watcher.drop()
        }
    }

    /// The next text frame of a raw watcher that is a `presence` event
    /// (pings are answered by the client itself and skipped here).
    static func nextPresence(_ watcher: AbuseRawSocket) async throws -> JSON {
        let deadline = ContinuousClock.now + .seconds(15)
        while let event = await watcher.next(timeout: deadline - ContinuousClock.now) {
            guard case .text(let text) = event else {
                if case .ping = event { continue }
                throw TestFailure("the watcher got \(event)")
            }
            let frame = try JSON.parse(text)
            if frame["type"].string == "presence" { return frame }
        }
        throw TestFailure("no presence event within 15 s")
    }
}
