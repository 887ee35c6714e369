import Foundation
import ParleyCore
import ParleyStore
import Testing

// MARK: - Factories: the one place that knows which implementations exist

/// One `ChatStore` implementation the suite runs against.
///
/// Every behavioural test is parameterised over `StoreFactory.all`, so adding
/// an implementation (PostgreSQL) is one more entry in that list plus a
/// `TestDatabase` that can create, reopen and drop a scratch database.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    let name: String
    /// Makes a new, empty, private database. It is not opened yet.
    let makeDatabase: @Sendable () async throws -> any TestDatabase

    var testDescription: String { name }

    /// Every implementation under test. Add a factory here and the whole
    /// suite runs against it.
    static let all: [StoreFactory] = [.sqlite] + (PostgresTestDatabase.server == nil ? [] : [.postgres])

    static let sqlite = StoreFactory(name: "SQLite") { try SQLiteTestDatabase() }
    /// Present when `PARLEY_TEST_POSTGRES` names a PostgreSQL server
    /// (`scripts/test` starts a throwaway one and always sets it).
    static let postgres = StoreFactory(name: "PostgreSQL") { try await PostgresTestDatabase() }
}

/// A scratch database belonging to one test.
protocol TestDatabase: Sendable {
    /// Opens the database: the first time, and again after the previous store
    /// was closed, to simulate a restart of the server. `now` is the clock the
    /// store must use for every time it records or compares; `broker` hears
    /// every event it publishes; `limits` its rules' settings.
    func open(now: @escaping @Sendable () -> Millis, broker: any EventBroker, limits: ChatLimits) async throws -> any ChatStore
    /// Removes everything the database left behind. The store is closed.
    func destroy() async
}

/// SQLite: one file in a fresh temporary directory, removed afterwards.
struct SQLiteTestDatabase: TestDatabase {
    let directory: URL
    var path: String { directory.appendingPathComponent("parley.sqlite").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("parley-store-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func open(now: @escaping @Sendable () -> Millis, broker: any EventBroker, limits: ChatLimits) async throws -> any ChatStore {
        try SQLiteChatStore(path: path, limits: limits, now: now, broker: broker)
    }

    func destroy() async {
        try? FileManager.default.removeItem(at: directory)
    }
}

// MARK: - Fixture: a database, its open store and a clock

/// A store under test with its database and a manual clock.
///
/// Tests reach the store through `fixture.store` and restart it with
/// `restart()`: `close()`, then open the same database again. Tests may keep
/// their own reference to the old store across a restart, as a real caller
/// might: `close()` must release the database, not the end of the object's
/// life (see `SQLiteLockTests.reopenAfterClose`).
final class StoreFixture: Sendable {
    let clock: TestClock
    let database: any TestDatabase
    let limits: ChatLimits
    /// Every event the store published, in order.
    let changes = ChangeRecorder()
    private let current = Locked<(any ChatStore)?>(nil)

    init(database: any TestDatabase, clock: TestClock, limits: ChatLimits = ChatLimits()) {
        self.database = database
        self.clock = clock
        self.limits = limits
    }

    /// The open store.
    var store: any ChatStore {
        guard let store = current.value else { preconditionFailure("the store is not open") }
        return store
    }

    /// Opens the database (it must not be open already).
    @discardableResult
    func open() async throws -> any ChatStore {
        let clock = self.clock
        let store = try await database.open(now: { clock.now }, broker: changes, limits: limits)
        current.value = store
        return store
    }

    /// Closes the store (waiting for queued writes, as `ChatStore.close` does)
    /// and lets go of it.
    func close() async throws {
        guard let store = current.take() else { return }
        try await store.close()
    }

    /// Closes the store and opens the same database again.
    @discardableResult
    func restart() async throws -> any ChatStore {
        try await close()
        return try await open()
    }

    func tearDown() async {
        if let store = current.take(), !Task.isCancelled {
            // A cancelled test (time limit) may have a wedged store whose
            // close() would never return: then only the files are removed.
            try? await store.close()
        }
        await database.destroy()
    }
}

/// Runs `body` with a freshly opened store of `factory`; closes the store and
/// removes its database afterwards, whether `body` throws or not.
func withFixture(
    _ factory: StoreFactory,
    limits: ChatLimits = ChatLimits(),
    _ body: (StoreFixture) async throws -> Void
) async throws {
    let fixture = StoreFixture(database: try await factory.makeDatabase(), clock: TestClock(), limits: limits)
    do {
        try await fixture.open()
        try await body(fixture)
    } catch {
        await fixture.tearDown()
        throw error
    }
    await fixture.tearDown()
}

// MARK: - Clock

/// A clock that only moves when a test moves it.
final class TestClock: Sendable {
    static let defaultStart: Millis = 1_700_000_000_000

    private let current: Locked<Millis>

    init(_ start: Millis = TestClock.defaultStart) {
        current = Locked(start)
    }

    var now: Millis {
        get { current.value }
        set { current.value = newValue }
    }

    func advance(by milliseconds: Millis) {
        current.withLock { $0 += milliseconds }
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) {
        stored = value
    }

    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try lock.withLock { try body(&stored) }
    }
}

extension Locked {
    func take<Wrapped>() -> Value where Value == Wrapped? {
        withLock { value in
            defer { value = nil }
            return value
        }
    }
}

// MARK: - Events

/// The broker of a store under test: records what the store publishes.
/// `all` and `reported` hold the conversation changes (creations and
/// membership) and the entries tests add; `events` holds everything.
final class ChangeRecorder: EventBroker {
    enum Entry: Sendable, Equatable {
        case created(String)
        case added(conversation: String, user: String)
        case removed(conversation: String, user: String)
        case accepted(conversation: String, user: String)
        case declined(conversation: String, user: String)
        case reopened(conversation: String, user: String)
        case roleChanged(conversation: String, user: String)
        /// A message completion, recorded by tests to check the interleaving.
        case message(String, seq: Int64)
    }

    private let entries = Locked<[Entry]>([])
    private let snapshots = Locked<[ChatEvent]>([])
    private let published = Locked<[ChatEvent]>([])

    func subscribe(_ handler: any EventHandler) {
        Issue.record("a store does not subscribe to its broker")
    }

    func publish(_ event: ChatEvent) {
        published.withLock { $0.append(event) }
        switch event {
        case .conversationCreated(let conversation):
            snapshots.withLock { $0.append(event) }
            record(.created(conversation.id))
        case .membershipChanged(let change):
            snapshots.withLock { $0.append(event) }
            switch change.kind {
            case .added: record(.added(conversation: change.conversation.id, user: change.subject.user.id))
            case .removed: record(.removed(conversation: change.conversation.id, user: change.subject.user.id))
            case .accepted: record(.accepted(conversation: change.conversation.id, user: change.subject.user.id))
            case .declined: record(.declined(conversation: change.conversation.id, user: change.subject.user.id))
            case .reopened: record(.reopened(conversation: change.conversation.id, user: change.subject.user.id))
            case .roleChanged: record(.roleChanged(conversation: change.conversation.id, user: change.subject.user.id))
            case .unchanged: Issue.record("an unchanged membership was reported")
            }
        default: break
        }
    }

    func record(_ entry: Entry) {
        entries.withLock { $0.append(entry) }
    }

    var all: [Entry] { entries.value }
    var reported: [ChatEvent] { snapshots.value }
    var events: [ChatEvent] { published.value }
}
