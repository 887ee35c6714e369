import Logging
import PostgresNIO
import Synchronization

/// The connections for everything off the write lane: reads, and the few
/// writes that run a transaction of their own.
///
/// Parley keeps this small pool rather than use PostgresClient's: after
/// PostgreSQL restarted under traffic, PostgresClient's pool could be left
/// with no connection while the database was back, and whatever leased
/// from it waited for ever (the server could not even stop). Here every
/// lease is answered: with an open connection, with a new one (refused at
/// once, or after `connectTimeout`, while the database is away), or, when
/// all `maximumConnections` are busy, with the next one given back, or
/// `unavailable` after `leaseTimeout`. A connection that failed is closed,
/// never given out again, and its place taken by a new one when needed.
final class PostgresPool: Sendable {
    /// What a waiting lease is given.
    private enum Handoff: Sendable {
        case connection(PostgresConnection)
        /// A place came free: the waiter opens a connection of its own.
        case mayConnect
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Handoff, any Error>
    }

    private struct State {
        var idle: [PostgresConnection] = []
        /// Connections idle, leased or being opened: never more than the maximum.
        var count = 0
        /// First come, first served.
        var waiters: [Waiter] = []
        var lastWaiter: UInt64 = 0
        var closed = false
    }

    private let location: PostgresLocation
    private let maximumConnections: Int
    private let leaseTimeout: Duration
    private let connectTimeout: Duration
    private let logger: Logger
    private let state = Mutex(State())

    init(
        location: PostgresLocation, maximumConnections: Int, leaseTimeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(10), logger: Logger
    ) {
        precondition(maximumConnections > 0)
        self.location = location
        self.maximumConnections = maximumConnections
        self.leaseTimeout = leaseTimeout
        self.connectTimeout = connectTimeout
        // A failed connect is the caller's error (answered unavailable);
        // postgres-nio's own account of it would only repeat it.
        self.logger = logger.errorsOnly
    }

    /// Runs `body` on a connection of the pool; gives it back afterwards,
    /// or closes it if it failed. A body PostgreSQL leaves unanswered for
    /// `limit` is answered `PostgresTransactionTimedOut` and its connection
    /// dropped (see `PostgresDeadline`).
    func withConnection<T: Sendable>(
        limit: Duration = .seconds(10), _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await lease()
        let value: T
        do {
            value = try await PostgresDeadline.run(limit, timedOut: { PostgresTransactionTimedOut(limit: limit) }) {
                try await body(connection)
            }
        } catch {
            await giveBack(connection, reusable: !PostgresFailure.isTransient(error))
            throw error
        }
        await giveBack(connection, reusable: true)
        return value
    }

    /// A pool dropped without `close()` (a caller that failed on its way)
    /// still closes its idle connections, in the background.
    deinit {
        let idle = state.withLock { state in
            defer { state.idle = [] }
            return state.idle
        }
        Self.closeInBackground(idle)
    }

    /// How many connections are open or being opened, idle or not.
    var openConnections: Int { state.withLock { $0.count } }

    /// Closes the idle connections and answers every waiting lease
    /// `unavailable`; leased connections are closed as they come back.
    func close() async {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.count -= state.idle.count
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: PostgresFailure.unavailable) }
        Self.closeInBackground(idle)
    }

    /// Closing is not waited for: a connection that stopped answering may
    /// never finish closing either, and nobody needs the answer.
    private static func closeInBackground(_ connections: [PostgresConnection]) {
        guard !connections.isEmpty else { return }
        Task { for connection in connections { try? await connection.close() } }
    }

    private enum Lease {
        case use(PostgresConnection)
        case connect
        case wait
        case refuse
    }

    private func lease() async throws -> PostgresConnection {
        let (lease, stale) = state.withLock { state in takeOrReserve(&state) }
        Self.closeInBackground(stale)
        switch lease {
        case .use(let connection): return connection
        case .connect: return try await open()
        case .refuse: throw PostgresFailure.unavailable
        case .wait:
            switch try await waitForHandoff() {
            case .connection(let connection): return connection
            case .mayConnect: return try await open()
            }
        }
    }

    /// An idle connection if one is open, else a place for a new one if
    /// there is room. Idle connections the database closed meanwhile (a
    /// restart) are dropped on the way and handed back to be closed.
    private func takeOrReserve(_ state: inout State) -> (Lease, [PostgresConnection]) {
        guard !state.closed else { return (.refuse, []) }
        var stale: [PostgresConnection] = []
        while let connection = state.idle.popLast() {
            if !connection.isClosed { return (.use(connection), stale) }
            state.count -= 1
            stale.append(connection)
        }
        guard state.count < maximumConnections else { return (.wait, stale) }
        state.count += 1
        return (.connect, stale)
    }

    private func waitForHandoff() async throws -> Handoff {
        let id = state.withLock { state in
            state.lastWaiter += 1
            return state.lastWaiter
        }
        let deadline = Task { [leaseTimeout] in
            try await Task.sleep(for: leaseTimeout)
            self.stopWaiting(id)
        }
        defer { deadline.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Something may have come back since the first look.
                let (lease, stale) = state.withLock { state in
                    let (lease, stale) = takeOrReserve(&state)
                    if case .wait = lease { state.waiters.append(Waiter(id: id, continuation: continuation)) }
                    return (lease, stale)
                }
                Self.closeInBackground(stale)
                switch lease {
                case .use(let connection): continuation.resume(returning: .connection(connection))
                case .connect: continuation.resume(returning: .mayConnect)
                case .refuse: continuation.resume(throwing: PostgresFailure.unavailable)
                case .wait: break
                }
            }
        } onCancel: {
            stopWaiting(id)
        }
    }

    /// Answers a lease still waiting (its deadline passed, or its task was
    /// cancelled) `unavailable`.
    private func stopWaiting(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: PostgresFailure.unavailable)
    }

    /// Opens a connection in a place already counted; gives the place up
    /// (to a waiter, if there is one) if the database cannot be reached.
    private func open() async throws -> PostgresConnection {
        do {
            return try await location.connect(logger: logger, within: connectTimeout, role: "pool")
        } catch {
            let waiter = state.withLock { state in releasePlace(&state) }
            waiter?.continuation.resume(returning: .mayConnect)
            throw error
        }
    }

    private func giveBack(_ connection: PostgresConnection, reusable: Bool) async {
        enum Next {
            case handOff(Waiter)
            case keep
            case close(Waiter?)
        }
        let next = state.withLock { state -> Next in
            if reusable, !connection.isClosed, !state.closed {
                if state.waiters.isEmpty {
                    state.idle.append(connection)
                    return .keep
                }
                return .handOff(state.waiters.removeFirst())
            }
            return .close(releasePlace(&state))
        }
        switch next {
        case .keep: break
        case .handOff(let waiter): waiter.continuation.resume(returning: .connection(connection))
        case .close(let waiter):
            waiter?.continuation.resume(returning: .mayConnect)
            Self.closeInBackground([connection])
        }
    }

    /// A connection's place came free: the first waiter, if any, takes it
    /// to open one of its own.
    private func releasePlace(_ state: inout State) -> Waiter? {
        guard !state.closed, !state.waiters.isEmpty else {
            state.count -= 1
            return nil
        }
        return state.waiters.removeFirst()
    }
}
