import ParleyCore
import Synchronization
import Testing

@testable import ParleyServer

/// Admission to password hashing, with hashes that end when the test says.
@Suite("Hashing queue")
struct HashingQueueTests {
    /// A hash that runs until released.
    final class Gate: Sendable {
        private let waiting = Mutex<[CheckedContinuation<Void, Never>]>([])
        private let opened = Mutex(false)
        func wait() async {
            await withCheckedContinuation { continuation in
                let now = opened.withLock { $0 }
                if now { continuation.resume() } else { waiting.withLock { $0.append(continuation) } }
            }
        }
        func open() {
            opened.withLock { $0 = true }
            waiting.withLock { list in list.forEach { $0.resume() }; list = [] }
        }
    }

    final class Order: Sendable {
        private let list = Mutex<[String]>([])
        func append(_ name: String) { list.withLock { $0.append(name) } }
        var names: [String] { list.withLock { $0 } }
    }

    /// Waits (briefly, by polling) for the queue to reach a state.
    func until(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(2)) }
        try #require(condition())
    }

    @Test("sign-ups never hold every worker: with two, a login finds one free while sign-ups wait")
    func workerKeptForLogins() async throws {
        let queue = HashingQueue(workers: 2, maxWaitingLogIns: 4, maxWaitingSignUps: 4)
        let gate = Gate()
        let first = Task { try await queue.run(.signUp) { await gate.wait() } }
        try await until { queue.load.running == 1 }
        let second = Task { try await queue.run(.signUp) {} }
        try await until { queue.load.signUps == 1 }
        #expect(queue.load.running == 1, "the second worker is not the sign-ups'")
        try await queue.run(.logIn) {}
        gate.open()
        try await first.value
        try await second.value
        #expect(queue.load == (0, 0, 0) as (Int, Int, Int))
    }

    @Test("past the workers and the bounded wait, work is refused at once with 503 and retry_after_ms; logins go before sign-ups")
    func admission() async throws {
        let queue = HashingQueue(workers: 1, maxWaitingLogIns: 1, maxWaitingSignUps: 1)
        let gate = Gate()
        let order = Order()
        let running = Task { try await queue.run(.signUp) { await gate.wait(); order.append("first") } }
        try await until { queue.load.running == 1 }
        let signUp = Task { try await queue.run(.signUp) { order.append("sign-up") } }
        try await until { queue.load.signUps == 1 }
        let logIn = Task { try await queue.run(.logIn) { order.append("log-in") } }
        try await until { queue.load.logIns == 1 }
        // One running, one of each kind waiting: a third of either is refused.
        for work in [HashingQueue.Work.signUp, .logIn] {
            do {
                _ = try await queue.run(work) { Issue.record("\(work) ran past the bound") }
            } catch let error as ChatError {
                #expect(error.code == .unavailable && (error.retryAfterMs ?? 0) > 0, "\(error)")
            }
        }
        gate.open()
        try await running.value
        try await logIn.value
        try await signUp.value
        #expect(order.names == ["first", "log-in", "sign-up"], "the waiting login went first")
        // All done: the worker is free again.
        try await queue.run(.signUp) {}
    }
}
