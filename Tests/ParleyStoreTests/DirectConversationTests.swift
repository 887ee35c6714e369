import Foundation
import ParleyCore
import ParleyStore
import Testing

@Suite("Direct conversations", .timeLimit(.minutes(1)))
struct DirectConversationTests {
    @Test("a pair has one direct conversation, whoever opens it first", arguments: StoreFactory.all)
    func onePerPair(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat")
            let ann = people[0], bob = people[1], cat = people[2]

            let opened = try await store.openDirect(between: ann, andUserID: bob.user.id)
            #expect(opened.created)
            let direct = opened.conversation
            #expect(direct.kind == .direct)
            #expect(direct.title == nil)
            #expect(direct.owner == nil)
            #expect(direct.members.keys == [ann.key, bob.key])
            #expect(direct.lastSeq == 0)
            #expect(OpaqueID.isWellFormed(direct.id))

            let fromBob = try await store.openDirect(between: bob, andUserID: ann.user.id)
            #expect(!fromBob.created)
            #expect(fromBob.conversation.id == direct.id)

            try await store.send("hi", to: direct.id, from: ann)
            let again = try await store.openDirect(between: ann, andUserID: bob.user.id)
            #expect(!again.created)
            #expect(again.conversation.id == direct.id)
            #expect(again.conversation.lastSeq == 1, "the existing conversation, as it is now")

            let other = try await store.openDirect(between: ann, andUserID: cat.user.id)
            #expect(other.created)
            #expect(other.conversation.id != direct.id)
            let reverse = try await store.openDirect(between: cat, andUserID: bob.user.id)
            #expect(reverse.created)
            #expect(Set([direct.id, other.conversation.id, reverse.conversation.id]).count == 3)
        }
    }

    @Test("opening the same pair concurrently from both sides creates it once", arguments: StoreFactory.all)
    func concurrentOpen(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob")
            let ann = people[0], bob = people[1]
            let results = try await withThrowingTaskGroup(of: (id: String, created: Bool).self) { group in
                for index in 0..<12 {
                    group.addTask {
                        try await cancellable {
                            let result = index.isMultiple(of: 2)
                                ? try await store.openDirect(between: ann, andUserID: bob.user.id)
                                : try await store.openDirect(between: bob, andUserID: ann.user.id)
                            return (result.conversation.id, result.created)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter(\.created).count == 1)
            #expect(Set(results.map(\.id)).count == 1)
            #expect(try await store.conversations(of: ann.key, limit: 10, after: nil).conversations.count == 1)
        }
    }

    @Test("a direct conversation with oneself is an invalid request", arguments: StoreFactory.all)
    func refusesSelf(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let ann = try await store.makeAccount("ann")
            await expectChatError(.invalidRequest) {
                _ = try await store.openDirect(between: ann, andUserID: ann.user.id)
            }
            #expect(try await store.conversations(of: ann.key, limit: 10, after: nil).conversations.isEmpty)
        }
    }

    @Test("a direct conversation with an unknown user is not found", arguments: StoreFactory.all)
    func unknownUser(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let ann = try await store.makeAccount("ann")
            for id in [UnknownIDs.wellFormed] + UnknownIDs.malformed {
                await expectChatError(.notFound, "user id '\(id)'") {
                    _ = try await store.openDirect(between: ann, andUserID: id)
                }
            }
            #expect(try await store.conversations(of: ann.key, limit: 10, after: nil).conversations.isEmpty)
        }
    }
}
