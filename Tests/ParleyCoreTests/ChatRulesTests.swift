import Testing

@testable import ParleyCore

/// The chat rules a store applies inside its transactions, on their own:
/// plain functions over the facts the store reads.
@Suite("Chat rules")
struct ChatRulesTests {
    let ann = UserKey(1), bob = UserKey(2), cat = UserKey(3), dan = UserKey(4)

    func account(_ key: UserKey) -> Account {
        Account(key: key, user: User(id: "u\(key.rawValue)", handle: "u\(key.rawValue)", displayName: "U"))
    }

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
            try MembershipPolicy.checkRemove(
                kind: .group, actor: ann, actorRole: .owner, target: dan, targetRole: nil, members: [ann, bob])
        }
        #expect(throws: ChatError.notFound("that user is not a member of this conversation")) {
            try MembershipPolicy.checkRemove(kind: .direct, actor: ann, actorRole: .member, target: nil, targetRole: nil, members: [ann, bob])
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

    @Test("typing reaches the other members but those a block separates from the typer, and nobody from a request")
    func typing() {
        #expect(
            Visibility.typingRecipients(
                typer: ann, standing: .accepted, listeners: [ann, bob, cat, dan], blocks: blocks((ann, cat), (bob, dan))) == [bob, dan])
        #expect(Visibility.typingRecipients(typer: ann, standing: .request, listeners: [ann, bob, cat], blocks: .empty) == [])
    }

    @Test("receipts reach the other listeners, and nobody while the conversation is a request for the reader")
    func receipts() {
        #expect(Visibility.receiptRecipients(reader: ann, standing: .accepted, listeners: [ann, bob, cat]) == [bob, cat])
        #expect(Visibility.receiptRecipients(reader: ann, standing: .request, listeners: [ann, bob, cat]) == [])
    }

    @Test("a member list shows a member online only across no block, and not while the conversation is a request for them")
    func memberPresence() {
        let accepted = Member(account: account(bob), readSeq: 3)
        let request = Member(account: account(bob), readSeq: 3, standing: .request)
        #expect(Visibility.showsPresence(of: accepted, to: ann, blocks: .empty))
        #expect(!Visibility.showsPresence(of: accepted, to: ann, blocks: blocks((ann, bob))))
        #expect(!Visibility.showsPresence(of: request, to: ann, blocks: .empty))
        #expect(Visibility.showsPresence(of: request, to: bob, blocks: .empty), "one sees oneself")
        let seenByCat = Member(account: account(bob), readSeq: 3, standing: .request, seenElsewhereBy: [cat])
        #expect(Visibility.showsPresence(of: seenByCat, to: cat, blocks: .empty), "Cat sees Bob through another conversation")
        #expect(!Visibility.showsPresence(of: seenByCat, to: ann, blocks: .empty))
        #expect(!Visibility.showsPresence(of: seenByCat, to: cat, blocks: blocks((cat, bob))), "but never across a block")
        #expect(!Visibility.showsReadMark(of: request, to: ann))
        #expect(Visibility.showsReadMark(of: accepted, to: ann))
    }

    @Test("a block has a direction: the blocker folds the blocked sender's messages, not the other way round")
    func blockDirection() {
        let set = blocks((ann, bob))
        #expect(set.separates(ann, bob) && set.separates(bob, ann))
        #expect(set.contains(blocker: ann, blocked: bob))
        #expect(!set.contains(blocker: bob, blocked: ann))
        #expect(set.blockers(of: bob, among: [ann, bob, cat]) == [ann])
        #expect(set.blockers(of: ann, among: [ann, bob, cat]) == [])
        #expect(set.hasBlocks(by: ann) && !set.hasBlocks(by: bob))
    }

    @Test("nobody brings into a group someone a block separates them from, either way")
    func bringingIn() throws {
        try BlockPolicy.checkBringIn(bob, by: ann, blocks: blocks((cat, bob)))
        #expect(throws: ChatError.blocked) { try BlockPolicy.checkBringIn(bob, by: ann, blocks: blocks((ann, bob))) }
        #expect(throws: ChatError.blocked) { try BlockPolicy.checkBringIn(bob, by: ann, blocks: blocks((bob, ann))) }
    }

    @Test("unread leaves out messages from blocked senders")
    func unreadFromBlocked() {
        #expect(ReadMark(conversationID: "c", lastSeq: 10, readSeq: 4, unreadFromBlocked: 2).unread == 4)
        #expect(ReadMark(conversationID: "c", lastSeq: 10, readSeq: 10, unreadFromBlocked: 0).unread == 0)
    }

    @Test("chat requests apply to what members do, not to what the product's backend does")
    func requestsApply() {
        #expect(ChatRequestPolicy.applies(enabled: true, introducer: .member))
        #expect(!ChatRequestPolicy.applies(enabled: true, introducer: .service))
        #expect(!ChatRequestPolicy.applies(enabled: false, introducer: .member))
    }

    @Test("chat requests: strangers bring people in as requests only when the option is on")
    func requestStanding() {
        #expect(ChatRequestPolicy.standing(of: bob, broughtBy: ann, sharesAcceptedConversation: false, enabled: true) == .request)
        #expect(ChatRequestPolicy.standing(of: bob, broughtBy: ann, sharesAcceptedConversation: true, enabled: true) == .accepted)
        #expect(ChatRequestPolicy.standing(of: bob, broughtBy: ann, sharesAcceptedConversation: false, enabled: false) == .accepted)
        #expect(ChatRequestPolicy.standing(of: ann, broughtBy: ann, sharesAcceptedConversation: false, enabled: true) == .accepted)
    }

    @Test("chat requests: sending accepts; a decline holds for the quiet period, then a message brings it back as a request")
    func requestTransitions() {
        #expect(ChatRequestPolicy.standingAfterSending(.request) == .accepted)
        #expect(ChatRequestPolicy.standingAfterSending(.accepted) == .accepted)
        let declined = Standing.declined(since: 1_000)
        #expect(ChatRequestPolicy.standingAfterMessage(declined, now: 1_000 + ChatRequestPolicy.quietPeriod - 1) == declined)
        #expect(ChatRequestPolicy.standingAfterMessage(declined, now: 1_000 + ChatRequestPolicy.quietPeriod) == .request)
        #expect(ChatRequestPolicy.standingAfterMessage(.request, now: .max) == .request)
        #expect(ChatRequestPolicy.decline(kind: .group, now: 5) == .leave)
        #expect(ChatRequestPolicy.decline(kind: .direct, now: 5) == .hide(since: 5))
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

    @Test("presence is news only when this node's change is the user's first session anywhere or their last one everywhere")
    func presenceNews() {
        #expect(PresenceRule.isNews(changedHere: true, onlineElsewhere: false))
        #expect(!PresenceRule.isNews(changedHere: true, onlineElsewhere: true), "another node has sessions of theirs")
        #expect(!PresenceRule.isNews(changedHere: false, onlineElsewhere: false), "this node had recorded it already")
    }

    @Test("a node may record the sessions it wants while they fit beside the other nodes', as many as fit otherwise, never fewer than it let in")
    func sessionAllowance() {
        #expect(SessionAllowance.granted(wants: 3, admitted: 2, elsewhere: 10, limit: 20) == 3)
        #expect(SessionAllowance.granted(wants: 3, admitted: 1, elsewhere: 18, limit: 20) == 2, "one place left beside the admitted one")
        #expect(SessionAllowance.granted(wants: 1, admitted: 0, elsewhere: 20, limit: 20) == 0, "the other nodes hold every place")
        #expect(SessionAllowance.granted(wants: 4, admitted: 4, elsewhere: 19, limit: 20) == 4, "sessions let in are not taken back")
        #expect(SessionAllowance.granted(wants: 0, admitted: 0, elsewhere: 25, limit: 20) == 0)
    }
}
