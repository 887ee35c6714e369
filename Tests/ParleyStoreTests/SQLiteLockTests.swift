import Foundation
import ParleyCore
import ParleyStore
import Testing

/// SQLite only: one process owns a database file at a time, because the write
/// lane's in-memory state is exact only if it is the only writer.
@Suite("SQLite database lock", .timeLimit(.minutes(1)))
struct SQLiteLockTests {
    private func withDatabase(_ body: (SQLiteTestDatabase) async throws -> Void) async throws {
        let database = try SQLiteTestDatabase()
        do {
            try await body(database)
        } catch {
            await database.destroy()
            throw error
        }
        await database.destroy()
    }

    @Test("a second store on the same file is refused while the first is open; the first is unharmed")
    func secondOpenIsRefused() async throws {
        try await withDatabase { database in
            let first = try SQLiteChatStore(path: database.path)
            let ann = try await first.makeAccount("ann")

            #expect {
                _ = try SQLiteChatStore(path: database.path)
            } throws: { error in
                (error as? ChatError)?.code == .unavailable
            }
            // Twice: a refused open must not disturb anything.
            #expect(throws: (any Error).self) { _ = try SQLiteChatStore(path: database.path) }

            #expect(try await first.account(id: ann.user.id) == ann)
            let bob = try await first.makeAccount("bob")
            let group = try await first.makeGroup(ann, [bob])
            #expect(try await first.send("still fine", to: group.id, from: bob).message.seq == 1)
            try await first.close()
        }
    }

    /// The store object is deliberately kept alive after `close()`: closing
    /// must release the file, not only deinitialising the object.
    @Test("after close() the same file can be opened again, even while the closed store object still exists")
    func reopenAfterClose() async throws {
        try await withDatabase { database in
            let first = try SQLiteChatStore(path: database.path)
            let ann = try await first.makeAccount("ann")
            try await first.close()

            let second = try SQLiteChatStore(path: database.path)
            #expect(try await second.account(id: ann.user.id) == ann)
            // And the lock is taken again by the new store.
            #expect(throws: (any Error).self) { _ = try SQLiteChatStore(path: database.path) }
            try await second.close()

            let third = try SQLiteChatStore(path: database.path)
            #expect(try await third.account(handleKey: "ann") == ann)
            try await third.close()
            withExtendedLifetime((first, second)) {}
        }
    }

    @Test("stores on different files do not block each other")
    func differentFiles() async throws {
        try await withDatabase { one in
            try await withDatabase { two in
                let first = try SQLiteChatStore(path: one.path)
                let second = try SQLiteChatStore(path: two.path)
                _ = try await first.makeAccount("ann")
                _ = try await second.makeAccount("ann")
                try await first.close()
                try await second.close()
            }
        }
    }
}
