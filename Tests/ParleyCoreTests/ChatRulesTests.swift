import Testing

@testable import ParleyCore

/// The chat rules a store applies inside its transactions, on their own:
/// plain functions over the facts the store reads.
@Suite("Chat rules")
struct ChatRulesTests {
    let ann = UserKey(1), bob = UserKey(2), cat = UserKey(3), dan = UserKey(4)

    func blocks(_ pairs: (UserKey, UserKey)...) -> BlockSet {
        var set = BlockSet()
        for (blocker, blocked) in pairs { set.insert(blocker: blocker, blocked: blocked) }
        return set
    }

    func limits(maxGroupMembers: Int = 1000, maxBlocks: Int = 1000) -> ChatLimits {
        var limits = ChatLimits()
        limits.maxGroupMembers = maxGroupMembers
        limits.maxBlocks = maxBlocks
        return limits
    }

    @Test("a direct conversation needs two different people, neither blocking the other")
    func direct() throws {
        try DirectConversationPolicy.checkOpen(between: ann, and: bob, blocks: blocks((cat, ann)))
        #expect(throws: ChatError.invalidRequest("a direct conversation needs two different people")) {
            try DirectConversationPolicy.checkOpen(between: ann, and: ann, blocks: .empty)
        }
        #expect(throws: ChatError.blocked) { try DirectConversationPolicy.checkOpen(between: ann, and: bob, blocks: blocks((ann, bob))) }
        #expect(throws: ChatError.blocked) { try DirectConversationPolicy.checkOpen(between: ann, and: bob, blocks: blocks((bob, ann))) }
    }

    @Test("a group holds at most its limit, owner included; adding a member twice changes nothing")
    func groupSize() throws {
        let small = limits(maxGroupMembers: 3)
        #expect(try MembershipPolicy.addition(of: cat, to: [ann, bob], limits: small) == .add)
        #expect(try MembershipPolicy.addition(of: bob, to: [ann, bob, cat], limits: small) == .alreadyMember)
        #expect(throws: ChatError.forbidden("a group has at most 3 members")) {
            try MembershipPolicy.addition(of: dan, to: [ann, bob, cat], limits: small)
        }
        try MembershipPolicy.checkRoom(members: 1, adding: 2, limits: small)
        #expect(throws: ChatError.self) { try MembershipPolicy.checkRoom(members: 1, adding: 3, limits: small) }
    }

    @Test("only members are removed: anyone else is not found, before any other rule")
    func removingNonMembers() {
        #expect(throws: ChatError.notFound("that user is not a member of this conversation")) {
            try MembershipPolicy.checkRemove(kind: .group, actor: ann, target: dan, members: [ann, bob], owner: ann)
        }
        #expect(throws: ChatError.notFound("that user is not a member of this conversation")) {
            try MembershipPolicy.checkRemove(kind: .direct, actor: ann, target: nil, members: [ann, bob], owner: nil)
        }
    }

    @Test("nobody blocks themself; a user blocks at most the limit")
    func blocking() throws {
        try BlockPolicy.checkBlock(by: ann, of: bob)
        #expect(throws: ChatError.invalidRequest("you cannot block yourself")) { try BlockPolicy.checkBlock(by: ann, of: ann) }
        try BlockPolicy.checkCount(2, limits: limits(maxBlocks: 2))
        #expect(throws: ChatError.forbidden("you can block at most 2 users")) { try BlockPolicy.checkCount(3, limits: limits(maxBlocks: 2)) }
    }

    @Test("presence: one's own always; others only when sharing a conversation and no block either way")
    func presence() {
        #expect(Visibility.seesPresence(of: ann, viewer: ann, shareConversation: false, blocks: .empty))
        #expect(Visibility.seesPresence(of: ann, viewer: bob, shareConversation: true, blocks: blocks((cat, ann))))
        #expect(!Visibility.seesPresence(of: ann, viewer: bob, shareConversation: false, blocks: .empty))
        #expect(!Visibility.seesPresence(of: ann, viewer: bob, shareConversation: true, blocks: blocks((ann, bob))))
        #expect(!Visibility.seesPresence(of: ann, viewer: bob, shareConversation: true, blocks: blocks((bob, ann))))
    }

    @Test("contacts: each co-member once, never the user, never across a block")
    func contacts() {
        let contacts = Visibility.contacts(of: ann, coMembers: [bob, cat, bob, ann, dan], blocks: blocks((dan, ann), (bob, cat)))
        #expect(contacts == [bob, cat])
    }

    @Test("typing reaches the other members but those a block separates from the typer")
    func typing() {
        #expect(Visibility.typingRecipients(typer: ann, members: [ann, bob, cat, dan], blocks: blocks((ann, cat), (bob, dan))) == [bob, dan])
    }

    @Test("sending: outsiders are told the conversation does not exist; a blocked direct conversation refuses")
    func sending() throws {
        try MessagePolicy.checkSend(isMember: true, blockedDirect: false)
        #expect(throws: ChatError.conversationNotFound) { try MessagePolicy.checkSend(isMember: false, blockedDirect: true) }
        #expect(throws: ChatError.blocked) { try MessagePolicy.checkSend(isMember: true, blockedDirect: true) }
    }

    @Test("seqs follow with no gap; times never go back in a conversation")
    func ordering() {
        #expect(MessagePolicy.next(lastSeq: 0, lastActivityTS: 5, now: 9) == (1, 9))
        #expect(MessagePolicy.next(lastSeq: 41, lastActivityTS: 1_000, now: 900) == (42, 1_000), "the clock stepped back")
    }

    @Test("a read mark moves forward only, and never past the last message")
    func readMarks() {
        #expect(ReadMarkPolicy.moved(current: 2, requested: 5, lastSeq: 9) == 5)
        #expect(ReadMarkPolicy.moved(current: 2, requested: 50, lastSeq: 9) == 9)
        #expect(ReadMarkPolicy.moved(current: 5, requested: 3, lastSeq: 9) == nil)
        #expect(ReadMarkPolicy.moved(current: 9, requested: 50, lastSeq: 9) == nil)
    }

    @Test("activity stamps grow strictly: within a millisecond, and when the clock steps back")
    func activity() {
        #expect(ActivityOrder.next(after: 0, now: 7) == 7_000)
        #expect(ActivityOrder.next(after: 7_000, now: 7) == 7_001)
        #expect(ActivityOrder.next(after: 9_500, now: 8) == 9_501)
        #expect(ActivityOrder.next(after: 7_001, now: 8) == 8_000)
    }
}
