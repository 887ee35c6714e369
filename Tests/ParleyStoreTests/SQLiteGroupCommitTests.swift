import Foundation
import ParleyCore
import ParleyStore
import Testing

/// SQLite only: concurrent writes share transactions, so one fsync
/// acknowledges many messages. Correctness alone can't show this (a lane
/// committing one job at a time would pass every other test), so this looks
/// at the lane's own counts.
@Suite("SQLite group commit", .timeLimit(.minutes(1)))
struct SQLiteGroupCommitTests {
    @Test("appends submitted together are committed in far fewer transactions than messages")
    func concurrentAppendsShareTransactions() async throws {
        let database = try SQLiteTestDatabase()
        defer { Task { await database.destroy() } }
        let store = try SQLiteChatStore(path: database.path)
        let people = try await store.makeAccounts("ann", "bob")
        let group = try await store.makeGroup(people[0], [people[1]])
        let before = store.writeStatistics

        let count = 500
        let recorder = CompletionRecorder()
        for index in 0..<count {
            recorder.submit(
                store, AppendRequest(conversationID: group.id, sender: people[index % 2], text: "m\(index)", clientID: "c\(index)"), tag: index)
        }
        try await recorder.waitForCompletions(count)

        let after = store.writeStatistics
        #expect(after.jobs - before.jobs == count)
        // Submitting 500 appends takes microseconds, a commit (with its fsync)
        // far longer: the writer cannot commit them one at a time.
        #expect(after.transactions - before.transactions < count / 10, "\(after.transactions - before.transactions) transactions for \(count) messages")
        #expect(try await store.allMessages(of: group.id, viewer: people[0].key).map(\.seq) == Array(1...Int64(count)))
        try await store.close()
    }

    @Test("a lone write commits at once, in its own transaction: there is no batching timer")
    func loneWriteCommitsAlone() async throws {
        let database = try SQLiteTestDatabase()
        defer { Task { await database.destroy() } }
        let store = try SQLiteChatStore(path: database.path)
        let people = try await store.makeAccounts("ann", "bob")
        let group = try await store.makeGroup(people[0], [people[1]])
        let before = store.writeStatistics
        _ = try await store.send("alone", to: group.id, from: people[0])
        let after = store.writeStatistics
        #expect(after.transactions - before.transactions == 1)
        #expect(after.jobs - before.jobs == 1)
        try await store.close()
    }

    @Test("the write-ahead log is checkpointed beside the writer once it passes 1,000 pages, and nothing is lost")
    func backgroundCheckpoint() async throws {
        let database = try SQLiteTestDatabase()
        defer { Task { await database.destroy() } }
        var store = try SQLiteChatStore(path: database.path)
        let people = try await store.makeAccounts("ann", "bob")
        let group = try await store.makeGroup(people[0], [people[1]])
        // One commit each, a few pages each: well past 1,000 log pages.
        let count = 600
        let text = String(repeating: "w", count: 3_000)
        for index in 0..<count {
            _ = try await store.send("\(index) \(text)", to: group.id, from: people[index % 2])
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while store.checkpoints == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(store.checkpoints > 0, "no checkpoint ran")
        try await store.close()

        store = try SQLiteChatStore(path: database.path)
        let messages = try await store.allMessages(of: group.id, viewer: people[0].key)
        #expect(messages.map(\.seq) == Array(1...Int64(count)))
        #expect(messages.last?.text.hasPrefix("\(count - 1) ") == true)
        try await store.close()
    }
}
