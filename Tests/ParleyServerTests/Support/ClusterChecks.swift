import Testing

// Checks shared by the suites that run several nodes (ClusterTests,
// ClusterFailoverTests), where one node's word reaches the others a little
// later and frames of different kinds may come in either order.

extension Harness {
    /// `GET /v1/users/{handle}` as `viewer` says `user` is online (or not)
    /// on this node within 3 s: the word of another node takes the time of
    /// a read of the event log.
    func expectOnline(_ user: TestUser, _ online: Bool, asking viewer: TestUser, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + .seconds(3)
        var last = JSON.null
        while ContinuousClock.now < deadline {
            let reply = try await request(.get, "/v1/users/\(user.handle)", token: viewer.token)
            last = reply.body
            if reply.body["online"].bool == online { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(user.handle) should be \(online ? "online" : "offline") on port \(port): \(last)", sourceLocation: sourceLocation)
    }
}

extension TestSocket {
    /// The next frame of `type`, skipping others; `what` names the step.
    func awaitFrame(_ type: String, _ what: String, timeout: Duration = .seconds(10)) async throws -> JSON {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw TestFailure("\(what): no '\(type)' within \(timeout)") }
            let frame: JSON
            do {
                frame = try await next(timeout: left)
            } catch {
                throw TestFailure("\(what): \(error)")
            }
            if frame["type"].string == type { return frame }
        }
    }
}
