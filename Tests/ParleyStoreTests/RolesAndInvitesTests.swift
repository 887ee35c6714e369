import ParleyCore
import ParleyStore
import Testing

/// Owners, admins and members; invites, their limits, and a single use
/// taken by one of two people at once.
@Suite("Roles and invites", .timeLimit(.minutes(1)))
struct RolesAndInvitesTests {
    static func roles(_ conversation: Conversation) -> [String: MemberRole] {
        Dictionary(uniqueKeysWithValues: conversation.members.map { ($0.account.user.handle, $0.role) })
    }

    @Test("roles: the owner makes admins, who add and remove members (not each other, not the owner) and delete any message; the owner hands over", arguments: StoreFactory.all)
    func roles(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "dan", "eve")
            let ann = people[0], bob = people[1], cat = people[2], dan = people[3], eve = people[4]
            let group = try await store.makeGroup(ann, [bob, cat])
            #expect(Self.roles(group) == ["ann": .owner, "bob": .member, "cat": .member])

            await expectChatError(.forbidden, "a member adds") { _ = try await store.addMember(conversationID: group.id, actor: bob.key, userID: dan.user.id) }
            let promoted = try await store.setRole(conversationID: group.id, actor: ann.key, userID: bob.user.id, role: .admin)
            #expect(promoted.kind == .roleChanged && Self.roles(promoted.conversation)["bob"] == .admin)
            #expect(try await store.setRole(conversationID: group.id, actor: ann.key, userID: bob.user.id, role: .admin).kind == .unchanged)
            await expectChatError(.forbidden, "an admin changes roles") {
                _ = try await store.setRole(conversationID: group.id, actor: bob.key, userID: cat.user.id, role: .admin)
            }
            _ = try await store.addMember(conversationID: group.id, actor: bob.key, userID: dan.user.id)
            _ = try await store.addMember(conversationID: group.id, actor: ann.key, userID: eve.user.id, role: .admin)
            await expectChatError(.forbidden, "an admin removes an admin") {
                _ = try await store.removeMember(conversationID: group.id, actor: bob.key, userID: eve.user.id)
            }
            await expectChatError(.forbidden, "an admin removes the owner") {
                _ = try await store.removeMember(conversationID: group.id, actor: bob.key, userID: ann.user.id)
            }
            _ = try await store.removeMember(conversationID: group.id, actor: bob.key, userID: dan.user.id)

            // Deleting: one's own, or anyone's as owner or admin.
            _ = try await store.send("from cat", to: group.id, from: cat)
            _ = try await store.send("from ann", to: group.id, from: ann)
            await expectChatError(.forbidden, "a member deletes another's") {
                _ = try await store.deleteMessage(conversationID: group.id, seq: 2, by: cat.key)
            }
            #expect(try await store.deleteMessage(conversationID: group.id, seq: 1, by: cat.key).deleted)
            #expect(try await store.deleteMessage(conversationID: group.id, seq: 2, by: bob.key).deleted)
            await expectChatError(.notFound, "an outsider") { _ = try await store.deleteMessage(conversationID: group.id, seq: 2, by: dan.key) }

            // Handing over: Cat owns it, Ann is an admin.
            let handed = try await store.setRole(conversationID: group.id, actor: ann.key, userID: cat.user.id, role: .owner)
            #expect(Self.roles(handed.conversation) == ["ann": .admin, "bob": .admin, "cat": .owner, "eve": .admin])
            #expect(handed.conversation.owner == cat.user)
            await expectChatError(.forbidden, "the old owner") {
                _ = try await store.setRole(conversationID: group.id, actor: ann.key, userID: bob.user.id, role: .member)
            }
            let shown = try await store.conversation(id: group.id, viewer: eve.key)
            #expect(Self.roles(shown) == Self.roles(handed.conversation))
            let (direct, _) = try await store.openDirect(between: ann, andUserID: bob.user.id)
            #expect(Set(direct.members.map(\.role)) == [.member])
            await expectChatError(.forbidden, "roles in a direct conversation") {
                _ = try await store.setRole(conversationID: direct.id, actor: ann.key, userID: bob.user.id, role: .admin)
            }
        }
    }

    @Test("invites: made by the owner or an admin, joined by anyone, used up, expired and revoked alike refused; a member joining spends nothing", arguments: StoreFactory.all)
    func invites(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let people = try await store.makeAccounts("ann", "bob", "cat", "dan", "eve")
            let ann = people[0], bob = people[1], cat = people[2], dan = people[3], eve = people[4]
            let group = try await store.makeGroup(ann, [bob])
            await expectChatError(.forbidden, "a member invites") {
                _ = try await store.createInvite(conversationID: group.id, actor: bob.key, expiresTS: nil, maxUses: nil)
            }
            let twice = try await store.createInvite(conversationID: group.id, actor: ann.key, expiresTS: fixture.clock.now + 60_000, maxUses: 2)
            #expect(OpaqueID.isWellFormed(twice.code) && twice.uses == 0 && twice.maxUses == 2)
            let joined = try await store.acceptInvite(code: twice.code, member: cat)
            #expect(joined.kind == .added && joined.conversation.members.keys.contains(cat.key))
            #expect(try await store.acceptInvite(code: twice.code, member: cat).kind == .unchanged, "a member again: no use spent")
            #expect(try await store.acceptInvite(code: twice.code, member: dan).kind == .added)
            await expectChatError(.notFound, exactly: InvitePolicy.notFound, "used up") { _ = try await store.acceptInvite(code: twice.code, member: eve) }

            let revoked = try await store.createInvite(conversationID: group.id, actor: ann.key, expiresTS: nil, maxUses: nil)
            #expect(try await store.revokeInvite(conversationID: group.id, actor: ann.key, code: revoked.code))
            #expect(try await store.revokeInvite(conversationID: group.id, actor: ann.key, code: revoked.code) == false)
            await expectChatError(.notFound, exactly: InvitePolicy.notFound, "revoked") { _ = try await store.acceptInvite(code: revoked.code, member: eve) }

            let soon = try await store.createInvite(conversationID: group.id, actor: ann.key, expiresTS: fixture.clock.now + 1_000, maxUses: nil)
            fixture.clock.now += 1_000
            await expectChatError(.notFound, exactly: InvitePolicy.notFound, "expired") { _ = try await store.acceptInvite(code: soon.code, member: eve) }
            await expectChatError(.notFound, exactly: InvitePolicy.notFound, "unknown") {
                _ = try await store.acceptInvite(code: UnknownIDs.wellFormed, member: eve)
            }
            #expect(try await store.conversation(id: group.id, viewer: ann.key).members.keys == [ann.key, bob.key, cat.key, dan.key])

            // Someone the inviter blocked is not brought in.
            _ = try await store.block(ann, userID: eve.user.id)
            let open = try await store.createInvite(conversationID: group.id, actor: ann.key, expiresTS: nil, maxUses: nil)
            await expectChatError(.blocked, "across a block") { _ = try await store.acceptInvite(code: open.code, member: eve) }
        }
    }

    @Test("a single-use invite accepted by many at once lets exactly one in", arguments: StoreFactory.all)
    func singleUseRace(_ factory: StoreFactory) async throws {
        try await withFixture(factory) { fixture in
            let store = fixture.store
            let owner = try await store.makeAccount("owner")
            var racers: [Account] = []
            for index in 0..<8 { racers.append(try await store.makeAccount("racer\(index)")) }
            let group = try await store.makeGroup(owner, [])
            let invite = try await store.createInvite(conversationID: group.id, actor: owner.key, expiresTS: nil, maxUses: 1)
            let outcomes = await withTaskGroup(of: Bool.self) { tasks in
                for racer in racers {
                    tasks.addTask { (try? await store.acceptInvite(code: invite.code, member: racer))?.kind == .added }
                }
                return await tasks.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
            #expect(try await store.conversation(id: group.id, viewer: owner.key).members.count == 2)
        }
    }
}
