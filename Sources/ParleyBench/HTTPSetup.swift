// Users and conversations are set up over the public HTTP API
// (docs/PROTOCOL.md §3), never by touching the server's database, so the
// bench works against any server that speaks the contract.

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

public struct BenchUser: Sendable {
    public var id: String
    public var handle: String
    public var token: String
}

public struct HTTPFailure: Error, CustomStringConvertible {
    public var what: String
    public var status: UInt
    public var body: String
    public var description: String { "\(what): HTTP \(status) \(body)" }

    /// The error body's `retry_after_ms`, if it has one.
    var retryAfterMs: Int? {
        guard let data = body.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let error = object["error"] as? [String: Any]
        else { return nil }
        return (error["retry_after_ms"] as? NSNumber)?.intValue
    }
}

public final class SetupClient: Sendable {
    let http: HTTPClient
    let base: String
    /// Handles of one run share a random prefix so that runs against the
    /// same server never collide (handles are unique, 3–32 characters).
    public let runID: String

    public init(target: LoopbackTarget, group: any EventLoopGroup) {
        var config = HTTPClient.Configuration()
        config.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        self.http = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: config)
        self.base = target.httpBase
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        self.runID = String((0..<6).map { _ in letters.randomElement()! })
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    private struct AccountReply: Decodable {
        struct User: Decodable { var id: String; var handle: String }
        var user: User
        var token: String
    }

    private struct ConversationReply: Decodable {
        struct Conversation: Decodable { var id: String }
        var conversation: Conversation
    }

    private func post(_ path: String, token: String?, json: [String: Any], what: String) async throws -> Data {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let body = try JSONSerialization.data(withJSONObject: json)
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 22)
        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            throw HTTPFailure(what: what, status: response.status.code, body: String(decoding: data, as: UTF8.self))
        }
        return data
    }

    /// `GET path` status, or nil when nothing answers (used to wait for a
    /// spawned server).
    public func status(of path: String) async -> UInt? {
        let request = HTTPClientRequest(url: base + path)
        guard let response = try? await http.execute(request, timeout: .seconds(2)) else { return nil }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return response.status.code
    }

    /// Signs up one user; `POST /v1/accounts`. A server busy hashing
    /// passwords answers 503 (or 429) with `retry_after_ms`: wait and retry,
    /// as a client should.
    public func signUp(_ index: Int, role: String) async throws -> BenchUser {
        let handle = "pb\(runID)\(role)\(index)"
        var attempt = 0
        var data: Data
        while true {
            do {
                data = try await post("/v1/accounts", token: nil, json: ["handle": handle, "password": "bench-password-\(runID)"], what: "sign-up \(handle)")
                break
            } catch let failure as HTTPFailure where [429, 503].contains(failure.status) && attempt < 200 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(failure.retryAfterMs ?? 100))
            }
        }
        let reply = try JSONDecoder().decode(AccountReply.self, from: data)
        return BenchUser(id: reply.user.id, handle: reply.user.handle, token: reply.token)
    }

    /// Signs up `count` users, `concurrency` at a time (bcrypt makes sign-ups
    /// slow: doing them one by one would dominate short runs).
    public func signUp(count: Int, role: String, concurrency: Int) async throws -> [BenchUser] {
        try await boundedMap(count: count, concurrency: concurrency) { i in try await self.signUp(i, role: role) }
    }

    /// A real user's logins, one after another: each timed from its first
    /// try until it succeeded, retrying after `retry_after_ms` when the
    /// server is busy (503) or throttling (429).
    public struct LoginTimes: Sendable {
        public var times: [UInt64] = []
        public var refusals = 0

        public var histogram: LatencyHistogram {
            var histogram = makeLatencyHistogram()
            for micros in times { _ = histogram.record(micros) }
            return histogram
        }
    }

    public func logInTimes(
        handle: String, password: String, count: Int = .max, until deadline: ContinuousClock.Instant = .now + .seconds(600),
        every interval: Duration
    ) async throws -> LoginTimes {
        var result = LoginTimes()
        while result.times.count < count, ContinuousClock.now < deadline {
            let started = monotonicNanos()
            while true {
                do {
                    _ = try await post("/v1/tokens", token: nil, json: ["handle": handle, "password": password], what: "log-in \(handle)")
                    break
                } catch let failure as HTTPFailure where [429, 503].contains(failure.status) {
                    result.refusals += 1
                    try await Task.sleep(for: .milliseconds(failure.retryAfterMs ?? 100))
                }
            }
            result.times.append((monotonicNanos() - started) / 1000)
            try await Task.sleep(for: interval)
        }
        return result
    }

    /// `POST /v1/conversations` `{kind:"group"}`; the caller becomes owner.
    public func createGroup(owner: BenchUser, title: String, members: [String]) async throws -> String {
        let data = try await post("/v1/conversations", token: owner.token,
                                  json: ["kind": "group", "title": title, "members": members], what: "create group")
        return try JSONDecoder().decode(ConversationReply.self, from: data).conversation.id
    }

    /// `POST /v1/conversations` `{kind:"direct"}`.
    public func openDirect(from user: BenchUser, with other: String) async throws -> String {
        let data = try await post("/v1/conversations", token: user.token,
                                  json: ["kind": "direct", "with": other], what: "open direct conversation")
        return try JSONDecoder().decode(ConversationReply.self, from: data).conversation.id
    }
}

/// Runs `count` async jobs, at most `concurrency` at a time, keeping order.
func boundedMap<T: Sendable>(count: Int, concurrency: Int, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
    var results = [T?](repeating: nil, count: count)
    try await withThrowingTaskGroup(of: (Int, T).self) { group in
        var next = 0
        while next < min(count, max(1, concurrency)) {
            let i = next; next += 1
            group.addTask { (i, try await body(i)) }
        }
        while let (i, value) = try await group.next() {
            results[i] = value
            if next < count {
                let j = next; next += 1
                group.addTask { (j, try await body(j)) }
            }
        }
    }
    return results.map { $0! }
}
