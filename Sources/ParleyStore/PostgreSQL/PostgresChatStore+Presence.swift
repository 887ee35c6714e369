import ParleyCore

extension PostgresChatStore {
    /// Counted alone too: a node joining must find every node's count.
    public var countsSessionsAcrossNodes: Bool { true }

    public func recordSessions(_ account: Account, count: Int, admitted: Int, limit: Int, at ts: Millis) async throws -> Int {
        let node = self.node
        let logged = audience.othersMayRead
        let record = try await write { db in
            try await PostgresPresence.record(
                account, sessions: count, admitted: admitted, limit: limit, node: node, logged: logged, at: ts, db)
        }
        if let event = record.news { deliverIfNotLogged(event, logged: logged) }
        return record.granted
    }

    /// A beat has 2 s: one stuck on a connection PostgreSQL dropped
    /// unanswered (after a restart) must not keep the node silent until
    /// the others give it up; the caller tries again at once.
    public func heartbeat() async throws -> Bool {
        let (node, pool, logger) = (self.node, self.pool, self.logger)
        let limit = Duration.milliseconds(PresenceRule.heartbeat)
        let beat = try await PostgresDeadline.run(limit, timedOut: { PostgresTransactionTimedOut(limit: limit) }) {
            try await pool.withConnection(limit: limit) { db in
                try await PostgresTransaction.run(on: db, logger: logger) { db in try await PostgresPresence.beat(node: node, db) }
            }
        }
        audience.beat(othersSeen: beat.othersSeen)
        return beat.registered
    }

    public func expireSilentNodes() async throws -> Int {
        let node = self.node
        let silent = try await read { db in try await PostgresPresence.silentNodes(besides: node, db) }
        for other in silent {
            try await giveUp(other, silent: true)
            logger.notice("node \(other) was silent for \(PresenceRule.silenceLimit / 1000) s: its users are offline unless seen elsewhere")
        }
        return silent.count
    }

    /// Gives up every user of `node`, a batch per transaction.
    func giveUp(_ node: String, silent: Bool) async throws {
        let now = self.now
        let logged = audience.othersMayRead
        while let events = try await write({ db in
            try await PostgresPresence.giveUpBatch(of: node, silent: silent, logged: logged, at: now(), db)
        }) {
            for event in events { deliverIfNotLogged(event, logged: logged) }
        }
    }

    /// With other nodes, presence rows are delivered here by this node's
    /// log reader, like the others' (`PostgresEventLog.everyNode`), so that
    /// every node tells them in one order. Alone (nothing logged), or with
    /// another broker (one process's tests, no reader), this node hears its
    /// own from the commit: a long transaction elsewhere in the PostgreSQL
    /// cluster, which holds every log reader back, then cannot delay it.
    private func deliverIfNotLogged(_ event: ChatEvent, logged: Bool) {
        if !logged || !(broker is PostgresBroker) { broker.publishCommitted(event) }
    }
}
