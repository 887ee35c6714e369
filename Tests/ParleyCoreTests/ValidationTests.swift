import Testing

@testable import ParleyCore

@Suite("Validation rules")
struct ValidationTests {
    let limits = ChatLimits()

    @Test("handles: 3 to 32 of a-z 0-9 _ . -, case-folded for uniqueness", arguments: [
        ("abc", "abc"), ("Alice", "alice"), ("a.b-c_d", "a.b-c_d"), ("x23", "x23"), (String(repeating: "z", count: 32), String(repeating: "z", count: 32)),
    ])
    func goodHandles(_ handle: String, _ key: String) throws {
        #expect(try Validation.handleKey(handle) == key)
    }

    @Test("handles outside the rules are refused with invalid_request", arguments: [
        "", "ab", String(repeating: "z", count: 33), "with space", "émile", "semi;colon", "new\nline", "@alice", "ａｌｉｃｅ",
    ])
    func badHandles(_ handle: String) {
        #expect(throws: ChatError.self) { try Validation.handleKey(handle) }
        do { _ = try Validation.handleKey(handle) } catch { #expect(error.code == .invalidRequest) }
    }

    @Test("passwords need 8 characters, counted as characters")
    func passwords() throws {
        try Validation.password("12345678")
        try Validation.password("éééééééé")
        #expect(throws: ChatError.self) { try Validation.password("1234567") }
        #expect(throws: ChatError.self) { try Validation.password(String(repeating: "p", count: 1025)) }
    }

    @Test("display names are trimmed, default to the handle, and are bounded")
    func displayNames() throws {
        #expect(try Validation.displayName(nil, handle: "bob", limits: limits) == "bob")
        #expect(try Validation.displayName("   ", handle: "bob", limits: limits) == "bob")
        #expect(try Validation.displayName("  Bob B.  ", handle: "bob", limits: limits) == "Bob B.")
        #expect(try Validation.displayName(String(repeating: "é", count: 64), handle: "bob", limits: limits).count == 64)
        #expect(throws: ChatError.self) { try Validation.displayName(String(repeating: "é", count: 65), handle: "bob", limits: limits) }
        #expect(throws: ChatError.self) { try Validation.displayName("bell\u{7}", handle: "bob", limits: limits) }
    }

    @Test("group titles are required, trimmed and bounded")
    func titles() throws {
        #expect(try Validation.groupTitle("  Team  ", limits: limits) == "Team")
        #expect(throws: ChatError.self) { try Validation.groupTitle(nil, limits: limits) }
        #expect(throws: ChatError.self) { try Validation.groupTitle(" \n\t ", limits: limits) }
        #expect(throws: ChatError.self) { try Validation.groupTitle(String(repeating: "t", count: 101), limits: limits) }
    }

    /// Each character a display name or title refuses, for looking like
    /// another name (the security review's `A\u{200B}dmin`).
    static let deceptive: [Unicode.Scalar] = [
        "\u{202A}", "\u{202B}", "\u{202C}", "\u{202D}", "\u{202E}", "\u{2066}", "\u{2067}", "\u{2068}", "\u{2069}",
        "\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}",
    ]

    @Test("display names and titles refuse bidirectional controls and invisible characters, wherever they stand", arguments: deceptive)
    func deceptiveNames(_ scalar: Unicode.Scalar) throws {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        for name in ["A\(scalar)dmin", "Admin\(scalar)x", "\(scalar)Admin"] {
            #expect(throws: ChatError.invalidRequest(
                "display_name must not contain \(scalar.isBidiControl ? "bidirectional controls" : "invisible characters")"),
                "U+\(hex)") { try Validation.displayName(name, handle: "bob", limits: limits) }
            #expect(throws: ChatError.self, "U+\(hex)") { try Validation.groupTitle(name, limits: limits) }
        }
    }

    @Test("names in other scripts, with accents and emoji, are fine")
    func honestNames() throws {
        for name in ["Zoë", "Ślęża", "مريم", "שָׁלוֹם", "山田 太郎", "Ana 🙂", "👍🏽 yes"] {
            #expect(try Validation.displayName(name, handle: "bob", limits: limits) == name)
            #expect(try Validation.groupTitle(name, limits: limits) == name)
        }
    }

    @Test("message text: required, not blank, at most 4000 characters however many bytes they take")
    func messageText() throws {
        try Validation.messageText("hi", limits: limits)
        try Validation.messageText(String(repeating: "é", count: 4000), limits: limits)
        try Validation.messageText(String(repeating: "👩‍👩‍👧", count: 4000), limits: limits)
        func code(_ text: String?) -> ChatError.Code? {
            do { try Validation.messageText(text, limits: limits); return nil } catch { return error.code }
        }
        #expect(code(nil) == .invalidRequest)
        #expect(code("") == .invalidRequest)
        #expect(code(" \n\t\u{3000} ") == .invalidRequest)
        #expect(code(String(repeating: "a", count: 4001)) == .tooLarge)
        #expect(code(String(repeating: "é", count: 4001)) == .tooLarge)
        #expect(code("nul\u{0}inside") == .invalidRequest)
    }

    @Test("client ids: required, at most 64 characters")
    func clientIDs() throws {
        #expect(try Validation.clientID("c-1", limits: limits) == "c-1")
        #expect(try Validation.clientID(String(repeating: "c", count: 64), limits: limits).count == 64)
        #expect(throws: ChatError.self) { try Validation.clientID(nil, limits: limits) }
        #expect(throws: ChatError.self) { try Validation.clientID("", limits: limits) }
        #expect(throws: ChatError.self) { try Validation.clientID("k\u{0}1", limits: limits) }
        #expect(throws: ChatError.self) { try Validation.clientID(String(repeating: "c", count: 65), limits: limits) }
    }

    @Test("page sizes default, cap, and refuse less than 1")
    func pageSizes() throws {
        #expect(try Validation.pageSize(nil, default: 50, max: 200) == 50)
        #expect(try Validation.pageSize(7, default: 50, max: 200) == 7)
        #expect(try Validation.pageSize(5000, default: 50, max: 200) == 200)
        #expect(throws: ChatError.self) { try Validation.pageSize(0, default: 50, max: 200) }
        #expect(throws: ChatError.self) { try Validation.pageSize(-3, default: 50, max: 200) }
    }

    @Test("history windows: at most one of after, before, since_ts")
    func historyWindows() throws {
        #expect(try Validation.historyWindow(after: nil, before: nil, sinceTS: nil) == .latest)
        #expect(try Validation.historyWindow(after: 0, before: nil, sinceTS: nil) == .after(0))
        #expect(try Validation.historyWindow(after: nil, before: 9, sinceTS: nil) == .before(9))
        #expect(try Validation.historyWindow(after: nil, before: nil, sinceTS: 1_700_000_000_000) == .since(1_700_000_000_000))
        #expect(throws: ChatError.self) { try Validation.historyWindow(after: 1, before: 9, sinceTS: nil) }
        #expect(throws: ChatError.self) { try Validation.historyWindow(after: 1, before: nil, sinceTS: 5) }
        #expect(throws: ChatError.self) { try Validation.historyWindow(after: -1, before: nil, sinceTS: nil) }
        #expect(throws: ChatError.self) { try Validation.historyWindow(after: nil, before: 0, sinceTS: nil) }
    }
}

@Suite("Membership policy and read marks")
struct PolicyTests {
    let owner = UserKey(1), member = UserKey(2), other = UserKey(3)
    var everyone: [UserKey] { [owner, member, other] }

    @Test("the owner and admins add, and only to groups")
    func adding() throws {
        try MembershipPolicy.checkAdd(kind: .group, actorRole: .owner)
        try MembershipPolicy.checkAdd(kind: .group, actorRole: .admin)
        #expect(throws: ChatError.forbidden("only the owner and admins can add members")) {
            try MembershipPolicy.checkAdd(kind: .group, actorRole: .member)
        }
        #expect(throws: ChatError.self) { try MembershipPolicy.checkAdd(kind: .direct, actorRole: .owner) }
    }

    @Test("the owner removes anyone, an admin removes members, anyone removes themself, nobody else removes anyone")
    func removing() throws {
        func remove(_ actor: UserKey, _ actorRole: MemberRole, _ target: UserKey, _ targetRole: MemberRole, kind: ConversationKind = .group) throws {
            try MembershipPolicy.checkRemove(
                kind: kind, actor: actor, actorRole: actorRole, target: target, targetRole: targetRole, members: everyone)
        }
        try remove(owner, .owner, member, .member)
        try remove(owner, .owner, member, .admin)
        try remove(member, .member, member, .member)
        try remove(owner, .owner, owner, .owner)
        try remove(member, .admin, other, .member)
        try remove(member, .admin, member, .admin)
        #expect(throws: ChatError.self) { try remove(member, .member, other, .member) }
        #expect(throws: ChatError.self) { try remove(member, .admin, other, .admin) }
        #expect(throws: ChatError.self) { try remove(member, .admin, owner, .owner) }
        #expect(throws: ChatError.self) { try remove(member, .member, owner, .owner) }
        #expect(throws: ChatError.self) { try remove(member, .member, member, .member, kind: .direct) }
    }

    @Test("only the owner changes roles; naming another owner hands the group over; the owner cannot be demoted")
    func roles() throws {
        #expect(try MembershipPolicy.roleChange(kind: .group, actorRole: .owner, target: member, targetRole: .member, to: .admin) == .set(.admin))
        #expect(try MembershipPolicy.roleChange(kind: .group, actorRole: .owner, target: member, targetRole: .admin, to: .member) == .set(.member))
        #expect(try MembershipPolicy.roleChange(kind: .group, actorRole: .owner, target: member, targetRole: .admin, to: .admin) == .unchanged)
        #expect(try MembershipPolicy.roleChange(kind: .group, actorRole: .owner, target: member, targetRole: .member, to: .owner) == .handOver)
        #expect(throws: ChatError.self) { try MembershipPolicy.roleChange(kind: .group, actorRole: .admin, target: other, targetRole: .member, to: .admin) }
        #expect(throws: ChatError.self) { try MembershipPolicy.roleChange(kind: .group, actorRole: .owner, target: owner, targetRole: .owner, to: .member) }
        #expect(throws: ChatError.self) { try MembershipPolicy.roleChange(kind: .group, actorRole: .owner, target: other, targetRole: nil, to: .admin) }
        #expect(throws: ChatError.self) { try MembershipPolicy.roleChange(kind: .direct, actorRole: .member, target: other, targetRole: .member, to: .admin) }
        #expect(MembershipPolicy.role(of: owner, owner: owner, isAdmin: false, kind: .group) == .owner)
        #expect(MembershipPolicy.role(of: member, owner: owner, isAdmin: true, kind: .group) == .admin)
        #expect(MembershipPolicy.role(of: member, owner: nil, isAdmin: true, kind: .direct) == .member)
    }

    @Test("the sender deletes their message; owners and admins any")
    func deleting() throws {
        try MessagePolicy.checkDelete(actor: member, sender: member, actorRole: .member)
        try MessagePolicy.checkDelete(actor: owner, sender: member, actorRole: .owner)
        try MessagePolicy.checkDelete(actor: other, sender: member, actorRole: .admin)
        #expect(throws: ChatError.self) { try MessagePolicy.checkDelete(actor: other, sender: member, actorRole: .member) }
    }

    @Test("invites: 7 days unless asked, 1 minute to 30 days; uses 1 to 100,000 or no limit")
    func invites() throws {
        #expect(try InvitePolicy.expiry(inSeconds: nil, now: 1_000) == 1_000 + 7 * 24 * 3600 * 1000)
        #expect(try InvitePolicy.expiry(inSeconds: 60, now: 0) == 60_000)
        for bad: Int64 in [0, 59, 30 * 24 * 3600 + 1] {
            #expect(throws: ChatError.self) { try InvitePolicy.expiry(inSeconds: bad, now: 0) }
        }
        #expect(try InvitePolicy.maxUses(nil) == nil)
        #expect(try InvitePolicy.maxUses(1) == 1)
        #expect(throws: ChatError.self) { try InvitePolicy.maxUses(0) }
        #expect(throws: ChatError.self) { try InvitePolicy.maxUses(100_001) }
    }

    @Test("ownership passes to the longest-standing member")
    func succession() {
        #expect(MembershipPolicy.nextOwner(remainingByJoinOrder: [other, member]) == other)
        #expect(MembershipPolicy.nextOwner(remainingByJoinOrder: []) == nil)
    }

    @Test("unread is last_seq minus the viewer's read mark, never negative")
    func unread() {
        let alice = Account(key: owner, user: User(id: "a", handle: "alice", displayName: "Alice"))
        let bob = Account(key: member, user: User(id: "b", handle: "bob", displayName: "Bob"))
        let conversation = Conversation(
            id: "c", kind: .direct, title: nil, owner: nil,
            members: [Member(account: alice, readSeq: 7), Member(account: bob, readSeq: 3)],
            lastSeq: 7, lastMessage: nil, createdTS: 0, lastActivityTS: 0)
        #expect(conversation.unread(of: owner) == 0)
        #expect(conversation.unread(of: member) == 4)
        #expect(conversation.readSeq(of: member) == 3)
        #expect(ReadMark(conversationID: "c", lastSeq: 2, readSeq: 5).unread == 0)
    }
}
