import Foundation
import Logging
import ParleyCore
@testable import ParleyStore
import PostgresNIO
import Testing

/// Several stores on one PostgreSQL database, as several Parley processes
/// would be: the rules hold whichever store a request reaches.
@Suite("PostgreSQL: several writers", .enabled(if: PostgresTestDatabase.server != nil), .timeLimit(.minutes(2)))
struct PostgresWritersTests {
    /// Two stores on one fresh database, with the fixture's clock.
    private func withTwoStores(_ body: (StoreFixture, any ChatStore) async throws -> Void) async throws {
        try await withFixture(.postgres) { fixture in
            let clock = fixture.clock
            let second = try await fixture.database.open(now: { clock.now }, broker: ChangeRecorder(), limits: fixture.limits)
            do {
                try await body(fixture, second)
            } catch {
                try? await second.close()
                throw error
            }
            try await second.close()
        }
    }

    @Test("two stores appending into one conversation at once: seqs 1…N, no gap, no repeat; each client_id stored once whichever store got it")
    func sharedConversation() async throws {
        try await withTwoStores { fixture, second in
            let first = fixture.store
            let owner = try await first.makeAccount("owner")
            let others = try await first.makeAccounts("ann", "ben", "cat")
            let conversation = try await first.makeGroup(owner, others)
            let senders = [owner] + others
            let perSender = 150

            // Every message is sent to both stores at once, with one client_id.
            let outcomes = try await withThrowingTaskGroup(of: [(String, AppendOutcome)].self) { group in
                for (index, sender) in senders.enumerated() {
                    for store in [first, second] {
                        group.addTask {
                            var sent: [(String, AppendOutcome)] = []
                            for n in 0..<perSender {
                                let clientID = "\(index)-\(n)"
                                sent.append((clientID, try await store.send("m \(clientID)", to: conversation.id, from: sender, clientID: clientID)))
                            }
                            return sent
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let total = senders.count * perSender
            #expect(outcomes.count == 2 * total)
            #expect(outcomes.filter { !$0.1.duplicate }.count == total, "each client_id stored once")
            var byClientID: [String: Message] = [:]
            for (clientID, outcome) in outcomes {
                if let earlier = byClientID[clientID] {
                    #expect(earlier == outcome.message, "both stores answer \(clientID) with the same message")
                } else {
                    byClientID[clientID] = outcome.message
                }
            }
            let stored = try await second.allMessages(of: conversation.id, viewer: owner.key)
            #expect(stored.map(\.seq) == Array(1...Int64(total)), "no gap, no repeat")
            #expect(Set(stored.map(\.clientID)).count == total)
            #expect(try await first.conversation(id: conversation.id, viewer: owner.key).lastSeq == Int64(total))
        }
    }

    @Test("what one store changes, the other's cached state follows: a member removed there cannot send here; one added there can")
    func membershipAcrossStores() async throws {
        try await withTwoStores { fixture, second in
            let first = fixture.store
            let (owner, ann, ben) = try await { let a = try await first.makeAccounts("owner", "ann", "ben"); return (a[0], a[1], a[2]) }()
            let group = try await first.makeGroup(owner, [ann])
            // Both stores have the conversation's state in memory.
            try await first.send("one", to: group.id, from: ann)
            try await second.send("two", to: group.id, from: ann)

            _ = try await second.removeMember(conversationID: group.id, actor: owner.key, userID: ann.user.id)
            #expect(chatError(await sendResult(first, "three", group.id, ann)) == .conversationNotFound)

            _ = try await second.addMember(conversationID: group.id, actor: owner.key, userID: ben.user.id)
            let outcome = try await first.send("hello", to: group.id, from: ben)
            #expect(outcome.message.seq == 3)
            #expect(outcome.recipients == [owner.key, ben.key])
        }
    }

    @Test("six stores opening one empty database at once: the schema is made once, and each store can write")
    func startingTogether() async throws {
        let database = try await PostgresTestDatabase()
        do {
            let stores = try await withThrowingTaskGroup(of: (any ChatStore).self) { group in
                for _ in 0..<6 {
                    group.addTask { try await database.open(now: SystemClock.millis, broker: ChangeRecorder(), limits: ChatLimits()) }
                }
                return try await group.reduce(into: [any ChatStore]()) { $0.append($1) }
            }
            for (index, store) in stores.enumerated() {
                _ = try await store.createAccount(NewAccount(handle: "starter\(index)", handleKey: "starter\(index)", displayName: "Starter", passwordHash: "x"))
            }
            for store in stores { try await store.close() }
            let location = database.location
            let connection = try await location.connect(logger: Logger(label: "parley-test-admin"))
            let migrations = try await connection.query("SELECT COUNT(*) FROM schema_migrations", logger: Logger(label: "parley-test-admin"))
                .collect().first?.decode(Int.self)
            let users = try await connection.query("SELECT COUNT(*) FROM users", logger: Logger(label: "parley-test-admin"))
                .collect().first?.decode(Int.self)
            try await connection.close()
            #expect(migrations == PostgresSchema.migrations.count, "one row per migration")
            #expect(users == 6)
        } catch {
            await database.destroy()
            throw error
        }
        await database.destroy()
    }

    @Test("a block made through one store holds in the other's direct conversation at once")
    func blockAcrossStores() async throws {
        try await withTwoStores { fixture, second in
            let first = fixture.store
            let accounts = try await first.makeAccounts("ann", "ben")
            let (direct, _) = try await first.openDirect(between: accounts[0], andUserID: accounts[1].user.id)
            try await first.send("hi", to: direct.id, from: accounts[1])
            _ = try await second.block(accounts[0], userID: accounts[1].user.id)
            #expect(chatError(await sendResult(first, "still there?", direct.id, accounts[1])) == .blocked)
        }
    }

    @Test("two stores opening the same direct conversation at once get one conversation")
    func directOpenedTwice() async throws {
        try await withTwoStores { fixture, second in
            let first = fixture.store
            let accounts = try await first.makeAccounts("ann", "ben")
            async let a = first.openDirect(between: accounts[0], andUserID: accounts[1].user.id)
            async let b = second.openDirect(between: accounts[1], andUserID: accounts[0].user.id)
            let (one, two) = try await (a, b)
            #expect(one.conversation.id == two.conversation.id)
            #expect([one.created, two.created].filter { $0 }.count == 1)
        }
    }

    private func sendResult(_ store: any ChatStore, _ text: String, _ conversation: String, _ sender: Account) async -> Result<AppendOutcome, any Error> {
        do {
            return .success(try await store.send(text, to: conversation, from: sender))
        } catch {
            return .failure(error)
        }
    }
}
