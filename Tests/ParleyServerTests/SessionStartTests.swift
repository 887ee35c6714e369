import Foundation
import Synchronization
import Testing

@testable import ParleyServer

/// The bound on sessions starting at once: what keeps a node standing when
/// the sessions of a dead node all come back to it.
@Suite("Sessions starting at once")
struct SessionStartTests {
    @Test("the gate lets its running number start, queues its waiting number in order, turns the rest away at once, and hands each place on")
    func gate() async throws {
        let gate = SessionStartGate(running: 2, waiting: 2)
        #expect(await gate.enter())
        #expect(await gate.enter())
        let order = Order()
        let first = Task {
            let admitted = await gate.enter()
            order.append(1)
            return admitted
        }
        while gate.load.waiting < 1 { await Task.yield() }
        let second = Task {
            let admitted = await gate.enter()
            order.append(2)
            return admitted
        }
        while gate.load.waiting < 2 { await Task.yield() }
        #expect(await gate.enter() == false, "a fifth is turned away while two run and two wait")
        gate.leave()
        #expect(await first.value)
        gate.leave()
        #expect(await second.value)
        #expect(order.values == [1, 2], "in the order they came")
        #expect(gate.load == (running: 2, waiting: 0))
        gate.leave()
        gate.leave()
        #expect(gate.load == (running: 0, waiting: 0))
    }

    @Test("200 sockets signing in at once on a node that starts one at a time and queues none: those turned away are closed 1013 with when to retry, and get in when they do")
    func stormTurnedAway() async throws {
        var database = try await TestDatabase()
        database.configuration.abuse.sessionStarts = 1
        database.configuration.abuse.waitingSessionStarts = 0
        database.configuration.abuse.maxUnauthenticated = 0
        database.configuration.abuse.maxSessionsPerUser = 1_000
        try await Harness.live(database.configuration) { h in
            let alice = try await h.signUp("alice")
            let outcomes = try await withThrowingTaskGroup(of: (ready: Bool, retryMs: Int?).self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        let socket = try await TestSocket.connect(port: h.port, token: alice.token, ignoring: TestSocket.notAboutPresence)
                        switch try await socket.nextEvent(timeout: .seconds(20)) {
                        case .text(let text):
                            let frame = try JSON.parse(text)
                            #expect(frame["type"].string == "ready", "\(frame)")
                            await socket.close()
                            return (true, nil)
                        case .closed(let code, let reason):
                            #expect(code == 1013, "closed \(String(describing: code)) \(reason ?? "")")
                            let ms = reason.flatMap { $0.firstMatch(of: /^server busy: retry in (\d+) ms$/) }.flatMap { Int($0.1) }
                            #expect(ms.map { (1_000...5_000).contains($0) } == true, "reason: \(reason ?? "none")")
                            return (false, ms)
                        case .binary:
                            throw TestFailure("a binary frame")
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let turnedAway = outcomes.filter { !$0.ready }
            #expect(outcomes.count - turnedAway.count > 0, "some got in")
            #expect(turnedAway.count > 0, "with 200 at once and room for one, some were turned away")
            // One that comes back when told gets in.
            let (again, ready) = try await h.socket(alice)
            #expect(ready["type"].string == "ready")
            await again.close()
        }
    }
}

private final class Order: Sendable {
    private let list = Mutex<[Int]>([])
    func append(_ value: Int) { list.withLock { $0.append(value) } }
    var values: [Int] { list.withLock { $0 } }
}
