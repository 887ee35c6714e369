import Foundation
import ParleyCore
import ParleyStore
import Testing
import ParleyBench

/// `parley migrate` on the real binary: a SQLite database in use for a
/// while, copied into PostgreSQL, interrupted and resumed, then served.
@Suite("parley migrate", .serialized, .enabled(if: ScratchPostgres.server != nil), .timeLimit(.minutes(10)))
struct MigrateTests {
    static let messageCount = 100_000

    @Test("100,000 messages in 116 conversations, the copy killed (-9) half-way and run again: the server on PostgreSQL shows every user the same conversations, unread counts, history, blocks and bans, and everyone stays signed in")
    func moveInterruptedAndResumed() async throws {
        let (folder, file, target) = try await Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder); target.drop() }

        // A few users and their conversations, made on the real server (it
        // also makes the signing key beside the file).
        var users: [TestUser] = []
        var conversations: [(id: String, member: TestUser)] = []
        var revoked = ""
        do {
            let server = try await ServerProcess.start(database: file, jwtSecret: nil)
            defer { server.terminate() }
            let h = Harness(port: server.port)
            for n in 0..<16 { users.append(try await h.signUp("user\(n)", displayName: "User \(n) ✓")) }
            // In no conversation: banned below.
            users.append(try await h.signUp("loner"))
            for a in 0..<14 {
                for b in (a + 1)..<14 { conversations.append((try await h.direct(users[a], users[b]), users[a])) }
            }
            for g in 0..<25 {
                let members = (0..<5).map { users[(g + $0 * 3 + 1) % 16] }.filter { $0.id != users[g % 16].id }
                conversations.append((try await h.group(users[g % 16], title: "Group \(g)", members: members), users[g % 16]))
            }
            revoked = try await h.logIn("user3")
            let out = try await h.request(.delete, "/v1/tokens/current", token: revoked)
            #expect(out.status == .noContent)
        }

        // Many messages, read marks, a block and a ban, through the store
        // itself (the server would take minutes over HTTP).
        do {
            let store = try SQLiteChatStore(path: file)
            var found: [String: Account] = [:]
            for user in users { found[user.id] = try await store.account(id: user.id) }
            let accounts = found
            let conversations = conversations
            let members = try await withThrowingTaskGroup(of: (String, [String]).self) { group in
                for (conversation, member) in conversations {
                    group.addTask {
                        let shown = try await store.conversation(id: conversation, viewer: accounts[member.id]!.key)
                        return (conversation, shown.members.map(\.account.user.id))
                    }
                }
                return try await group.reduce(into: [String: [String]]()) { $0[$1.0] = $1.1 }
            }
            let perTask = Self.messageCount / 50
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<50 {
                    group.addTask {
                        for n in 0..<perTask {
                            let conversation = conversations[(task * 7 + n * 13) % conversations.count].id
                            let senders = members[conversation]!
                            let sender = accounts[senders[n % senders.count]]!
                            _ = try await store.append(AppendRequest(
                                conversationID: conversation, sender: sender, text: "message \(task)-\(n) «ünïcode» 🎈", clientID: "c-\(task)-\(n)"))
                        }
                    }
                }
                try await group.waitForAll()
            }
            for (index, (conversation, member)) in conversations.enumerated() where index % 3 == 0 {
                _ = try await store.markRead(conversationID: conversation, reader: accounts[member.id]!, seq: Int64(index * 5))
            }
            _ = try await store.block(accounts[users[0].id]!, userID: users[1].id)
            try await store.recordBan(accounts[users[16].id]!.key, until: SystemClock.millis() + 3_600_000)
            try await store.close()
        }

        let sqliteServer = try await ServerProcess.start(database: file, jwtSecret: nil)
        let before = try await Self.view(Harness(port: sqliteServer.port), users: users, conversations: conversations, revoked: revoked)
        sqliteServer.terminate()
        let stored = before.filter { $0.key.hasPrefix("history:") }.values.reduce(0) { $0 + $1.array.count }
        #expect(stored == Self.messageCount, "every message is seen through the SQLite server")

        // The first copy, in small batches, killed once a part is across.
        let log = folder.appendingPathComponent("migrate.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let copy = ChildProcess()
        copy.executableURL = ServerProcess.binary
        copy.arguments = ["migrate", "--from", file, "--to", target.url, "--batch", "100"]
        copy.standardOutput = try FileHandle(forWritingTo: log)
        copy.standardError = copy.standardOutput
        try copy.run()
        var across = 0
        while copy.isRunning, across < 20_000 {
            try await Task.sleep(for: .milliseconds(20))
            // (Before the copy made its tables, the query fails: none across.)
            across = Int((try? await target.value("SELECT COUNT(*)::text FROM messages")) ?? "0") ?? 0
        }
        kill(copy.processIdentifier, SIGKILL)
        copy.waitUntilExit()
        #expect(copy.terminationReason == .uncaughtSignal, "killed in the middle: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        #expect(across < Self.messageCount)

        let early = try await runParley(["serve", "--port", "0", "--database", target.url])
        #expect(early.status != 0 && early.output.contains("unfinished copy"), "no server on a half copy: \(early.output)")

        let resumed = try await runParley(["migrate", "--from", file, "--to", target.url])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("resuming"), "\(resumed.output)")
        #expect(resumed.output.contains("\(Self.messageCount) messages; counts and every conversation's last seq match"), "\(resumed.output)")

        let again = try await runParley(["migrate", "--from", file, "--to", target.url])
        #expect(again.status == 0 && again.output.contains("already holds a finished copy"), "\(again.output)")

        let postgresServer = try await ServerProcess.start(database: target.url, jwtSecret: nil)
        defer { postgresServer.terminate() }
        let h = Harness(port: postgresServer.port)
        let after = try await Self.view(h, users: users, conversations: conversations, revoked: revoked)
        #expect(after.count == before.count)
        for (key, seen) in before where after[key] != seen {
            Issue.record("\(key) differs: on SQLite \(String(describing: seen).prefix(400)), on PostgreSQL \(String(describing: after[key]).prefix(400))")
        }

        // New rows are numbered after the copied ones.
        let (conversation, member) = conversations[1]  // [0] is user0 and user1, blocked
        let last = before["history:\(conversation)"]?.array.last?["seq"].int ?? 0
        let sent = try await h.request(
            .post, "/v1/conversations/\(conversation)/messages", token: member.token, json: ["text": "after the move", "client_id": "after"])
        #expect(sent.status == .created && sent.body["message"]["seq"].int == last + 1, "\(sent.body)")
        let newcomer = try await h.signUp("newcomer")
        let group = try await h.group(newcomer, title: "New", members: [users[2]])
        #expect(try await h.history(users[2], group).isEmpty)
    }

    @Test("migrate refuses, with a clear error and nothing changed: a missing file, a database in use, a PostgreSQL database that is not empty")
    func refusals() async throws {
        let (folder, file, target) = try await Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder); target.drop() }

        let missing = try await runParley(["migrate", "--from", file, "--to", target.url])
        #expect(missing.status != 0 && missing.output.contains("there is no SQLite database at"), "\(missing.output)")
        #expect(!FileManager.default.fileExists(atPath: file), "nothing is made where nothing was")

        let sqliteServer = try await ServerProcess.start(database: file)
        _ = try await Harness(port: sqliteServer.port).signUp("alice")
        let inUse = try await runParley(["migrate", "--from", file, "--to", target.url])
        #expect(inUse.status != 0 && inUse.output.contains("in use by a running Parley server"), "\(inUse.output)")
        sqliteServer.terminate()

        let postgresServer = try await ServerProcess.start(database: target.url)
        _ = try await Harness(port: postgresServer.port).signUp("bob")
        postgresServer.terminate()
        let notEmpty = try await runParley(["migrate", "--from", file, "--to", target.url])
        #expect(notEmpty.status != 0 && notEmpty.output.contains("is not empty"), "\(notEmpty.output)")
        #expect(try await target.value("SELECT string_agg(handle, ',') FROM users") == "bob", "the target is untouched")

        let badURL = try await runParley(["migrate", "--from", file, "--to", "mysql://x"])
        #expect(badURL.status != 0 && badURL.output.contains("--to must be a postgres:// URL"), "\(badURL.output)")
    }

    /// A folder of the test's own with the SQLite file's path in it, and an
    /// empty PostgreSQL database to copy into.
    static func scratch() async throws -> (folder: URL, file: String, target: ScratchPostgres) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parley-migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return (folder, folder.appendingPathComponent("chat.sqlite").path, try await ScratchPostgres())
    }

    /// What each user sees: every page of their conversation list, their
    /// blocks and their account; every conversation's whole history; and
    /// what a revoked token gets.
    static func view(_ h: Harness, users: [TestUser], conversations: [(id: String, member: TestUser)], revoked: String) async throws -> [String: JSON] {
        var seen: [String: JSON] = [:]
        for user in users {
            var pages: [JSON] = []
            var cursor: String?
            repeat {
                let reply = try await h.request(.get, "/v1/conversations?limit=100" + (cursor.map { "&cursor=\($0)" } ?? ""), token: user.token)
                pages.append(.object(["status": .number(Double(reply.status.code)), "body": reply.body]))
                cursor = reply.body["next_cursor"].string
            } while cursor != nil
            seen["list:\(user.handle)"] = .array(pages)
            seen["blocks:\(user.handle)"] = try await h.request(.get, "/v1/blocks", token: user.token).body
            seen["me:\(user.handle)"] = try await h.request(.get, "/v1/me", token: user.token).body
        }
        for (conversation, member) in conversations {
            seen["history:\(conversation)"] = .array(try await h.wholeHistory(member, conversation))
        }
        let revokedReply = try await h.request(.get, "/v1/me", token: revoked)
        seen["revoked"] = .object(["status": .number(Double(revokedReply.status.code)), "body": revokedReply.body])
        return seen
    }
}
