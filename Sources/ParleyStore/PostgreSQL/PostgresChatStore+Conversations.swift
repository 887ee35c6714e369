import ParleyCore
import PostgresNIO

/// Conversations and their members.
extension PostgresChatStore {
    public func openDirect(
        between owner: Account, andUserID otherID: String, introducedBy introducer: Introducer
    ) async throws -> (conversation: Conversation, created: Bool) {
        let now = self.now()
        let requests = ChatRequestPolicy.applies(enabled: limits.chatRequests, introducer: introducer)
        return try await lane.perform(publishing: { db, cache in
            guard let other = try await PostgresRows.account(publicID: otherID, db) else { throw ChatError.userNotFound }
            try DirectConversationPolicy.checkOpen(
                between: owner.key, and: other.key, blocks: try await PostgresRows.blocks(between: owner.key, other.key, db))
            let directKey = DirectKey.of(owner.key, other.key)
            let existing = "SELECT id FROM conversations WHERE direct_key = "
            if let key = try await db.row("\(unescaped: existing)\(directKey)")?.decode(Int64.self) {
                return try await Self.reopen(key, by: owner, cache, db)
            }
            let standing = ChatRequestPolicy.standing(
                of: other.key, broughtBy: owner.key,
                sharesAcceptedConversation: try await PostgresRows.sharesConversation(other.key, with: owner.key, db), enabled: requests)
            guard let key = try await Self.insertConversation(
                kind: .direct, title: nil, owner: nil, directKey: directKey, members: [(owner.key, .accepted), (other.key, standing)],
                now: now, cache, db)
            else {
                // Another process opened it first (and has committed: the
                // insert waited for it).
                guard let key = try await db.row("\(unescaped: existing)\(directKey)")?.decode(Int64.self) else {
                    throw ChatError(.internalError, "the direct conversation vanished")
                }
                return try await Self.reopen(key, by: owner, cache, db)
            }
            let conversation = try await PostgresRows.conversation(key: key, db)
            return ((conversation, true), Publication(conversation: key, event: .conversationCreated(conversation)))
        })
    }

    /// Opening a direct conversation that exists: one the opener had not
    /// accepted (a request, or declined) is accepted by opening it.
    private static func reopen(
        _ key: Int64, by opener: Account, _ cache: PostgresLaneCache, _ db: PostgresConnection
    ) async throws -> ((conversation: Conversation, created: Bool), Publication?) {
        guard let state = try await cache.lock(keys: [key], db)[key] else { throw ChatError.conversationNotFound }
        guard state.standing(of: opener.key) != .accepted else {
            return ((try await PostgresRows.conversation(key: key, db), false), nil)
        }
        try await PostgresRows.setStanding(.accepted, of: opener.key, inConversation: key, db)
        try await cache.bumpVersion(of: state, db)
        state.setStanding(.accepted, of: opener.key)
        let conversation = try await PostgresRows.conversation(key: key, db)
        let change = MembershipChange(kind: .accepted, conversation: conversation, subject: opener)
        return ((conversation, false), Publication(conversation: key, event: .membershipChanged(change)))
    }

    public func createGroup(
        owner: Account, title: String, memberIDs: [String], introducedBy introducer: Introducer
    ) async throws -> Conversation {
        let now = self.now()
        let requests = ChatRequestPolicy.applies(enabled: limits.chatRequests, introducer: introducer)
        return try await lane.perform(publishing: { db, cache in
            var members: [(UserKey, Standing)] = [(owner.key, .accepted)]
            for id in memberIDs {
                guard let account = try await PostgresRows.account(publicID: id, db) else {
                    throw ChatError.notFound("user '\(id)' not found")
                }
                guard !members.contains(where: { $0.0 == account.key }) else { continue }
                members.append((account.key, try await Self.newcomerStanding(account.key, broughtBy: owner.key, requests: requests, db)))
            }
            guard let key = try await Self.insertConversation(
                kind: .group, title: title, owner: owner.key, directKey: nil, members: members, now: now, cache, db)
            else { throw ChatError(.internalError, "the group was not created") }
            let conversation = try await PostgresRows.conversation(key: key, db)
            return (conversation, Publication(conversation: key, event: .conversationCreated(conversation)))
        })
    }

    /// How someone brought into a group stands: refused across a block,
    /// a request from a stranger when chat requests are on.
    private static func newcomerStanding(
        _ subject: UserKey, broughtBy actor: UserKey, requests: Bool, _ db: PostgresConnection
    ) async throws -> Standing {
        try BlockPolicy.checkBringIn(subject, by: actor, blocks: try await PostgresRows.blocks(between: actor, subject, db))
        return ChatRequestPolicy.standing(
            of: subject, broughtBy: actor, sharesAcceptedConversation: try await PostgresRows.sharesConversation(subject, with: actor, db),
            enabled: requests)
    }

    /// Inserts a conversation and its members; nil if a direct conversation
    /// of the pair exists already.
    private static func insertConversation(
        kind: ConversationKind, title: String?, owner: UserKey?, directKey: String?, members: [(UserKey, Standing)], now: Millis,
        _ cache: PostgresLaneCache, _ db: PostgresConnection
    ) async throws -> Int64? {
        let activity = try await cache.nextActivity(now: now, db)
        guard let key = try await db.row("""
            INSERT INTO conversations (public_id, kind, title, owner_id, direct_key, created_ts, last_activity_ts, created_activity, activity)
            VALUES (\(OpaqueID.make()), \(kind.rawValue), \(title), \(owner?.rawValue), \(directKey), \(now), \(now), \(activity), \(activity))
            ON CONFLICT (direct_key) DO NOTHING
            RETURNING id
            """
        )?.decode(Int64.self) else { return nil }
        let users = members.map(\.0.rawValue)
        let positions = members.indices.map { Int64($0 + 1) }
        let standings = members.map { Int16(Rows.columns(of: $0.1).code) }
        try await db.run("""
            INSERT INTO members (conversation_id, user_id, position, joined_ts, read_seq, standing)
            SELECT \(key), u, p, \(now), 0, s FROM unnest(\(users)::bigint[], \(positions)::bigint[], \(standings)::smallint[]) AS t (u, p, s)
            """)
        return key
    }

    public func conversation(id: String, viewer: UserKey) async throws -> Conversation {
        try await read { db in
            guard let key = try await PostgresRows.conversationKey(publicID: id, member: viewer, db) else {
                throw ChatError.conversationNotFound
            }
            return try await PostgresRows.conversation(key: key, db)
        }
    }

    public func conversation(id: String) async throws -> Conversation? {
        guard OpaqueID.isWellFormed(id) else { return nil }
        return try await read { db in
            guard let key = try await db.row("SELECT id FROM conversations WHERE public_id = \(id)")?.decode(Int64.self) else { return nil }
            return try await PostgresRows.conversation(key: key, db)
        }
    }

    public func conversations(of viewer: UserKey, limit: Int, after cursor: ConversationCursor?) async throws -> ConversationPage {
        try await read { db in
            var listed: [(key: Int64, publicID: String, activity: Int64)] = []
            let snapshot: Int64
            if let cursor {
                snapshot = cursor.snapshot
                // Each conversation's activity as it was at the snapshot: the
                // stamp of its last message then (stamps grow with seq), or
                // of its creation; conversations created since are left out.
                for row in try await db.rows("""
                    SELECT id, public_id, activity_then FROM (
                        SELECT c.id, c.public_id,
                            COALESCE(
                                (SELECT x.activity FROM messages x WHERE x.conversation_id = c.id AND x.activity <= \(cursor.snapshot)
                                    ORDER BY x.seq DESC LIMIT 1),
                                c.created_activity) AS activity_then
                        FROM members m JOIN conversations c ON c.id = m.conversation_id
                        WHERE m.user_id = \(viewer.rawValue) AND m.standing != \(Int16(Rows.declinedCode))
                            AND c.created_activity <= \(cursor.snapshot)
                    ) t
                    WHERE activity_then < \(cursor.activity) OR (activity_then = \(cursor.activity) AND public_id < \(cursor.conversationID))
                    ORDER BY activity_then DESC, public_id DESC LIMIT \(limit + 1)
                    """)
                {
                    let (key, publicID, activity) = try row.decode((Int64, String, Int64).self)
                    listed.append((key, publicID, activity))
                }
            } else {
                for row in try await db.rows("""
                    SELECT c.id, c.public_id, c.activity FROM members m JOIN conversations c ON c.id = m.conversation_id
                    WHERE m.user_id = \(viewer.rawValue) AND m.standing != \(Int16(Rows.declinedCode))
                    ORDER BY c.activity DESC, c.public_id DESC LIMIT \(limit + 1)
                    """)
                {
                    let (key, publicID, activity) = try row.decode((Int64, String, Int64).self)
                    listed.append((key, publicID, activity))
                }
                // The newest activity the viewer can see.
                snapshot = listed.first?.activity ?? 0
            }
            var page: [Conversation] = []
            for entry in listed.prefix(limit) {
                page.append(try await PostgresRows.conversation(key: entry.key, db))
            }
            let next = listed.count > limit ? listed[limit - 1] : nil
            return ConversationPage(
                conversations: page,
                nextCursor: next.map { ConversationCursor(snapshot: snapshot, activity: $0.activity, conversationID: $0.publicID) })
        }
    }

    public func readMarks(of user: UserKey) async throws -> [ReadMark] {
        try await read { db in
            // Counting messages from blocked senders costs a scan of the
            // unread ones: only for users who block someone.
            let blocksSomeone = try await db.exists("SELECT 1 FROM blocks WHERE blocker_id = \(user.rawValue) LIMIT 1")
            return try await db.rows("""
                SELECT c.public_id, c.last_seq, m.read_seq, m.standing,
                    CASE WHEN \(blocksSomeone) THEN (
                        SELECT COUNT(*) FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.read_seq
                            AND x.sender_id IN (SELECT blocked_id FROM blocks WHERE blocker_id = \(user.rawValue))
                    ) ELSE 0 END
                FROM members m JOIN conversations c ON c.id = m.conversation_id
                WHERE m.user_id = \(user.rawValue) AND m.standing != \(Int16(Rows.declinedCode))
                ORDER BY c.activity DESC
                """
            ).map { row in
                let (publicID, lastSeq, readSeq, standing, fromBlocked) = try row.decode((String, Int64, Int64, Int16, Int64).self)
                return ReadMark(
                    conversationID: publicID, lastSeq: lastSeq, readSeq: readSeq, unreadFromBlocked: fromBlocked,
                    isRequest: Int(standing) == Rows.requestCode)
            }
        }
    }

    public func addMember(
        conversationID: String, actor: UserKey, userID: String, role: MemberRole, introducedBy introducer: Introducer
    ) async throws -> MembershipChange {
        let now = self.now()
        let limits = self.limits
        let requests = ChatRequestPolicy.applies(enabled: limits.chatRequests, introducer: introducer)
        return try await lane.perform(publishing: { db, cache in
            let state = try await Self.memberState(conversationID, actor, cache, db)
            try MembershipPolicy.checkAdd(kind: state.kind, actorRole: try await PostgresRows.role(of: actor, in: state, db) ?? .member)
            guard let subject = try await PostgresRows.account(publicID: userID, db) else { throw ChatError.userNotFound }
            guard try MembershipPolicy.addition(of: subject.key, to: state.members, limits: limits) == .add else {
                return (
                    MembershipChange(kind: .unchanged, conversation: try await PostgresRows.conversation(key: state.key, db), subject: subject),
                    nil
                )
            }
            let standing = try await Self.newcomerStanding(subject.key, broughtBy: actor, requests: requests, db)
            return try await Self.insertMember(subject, standing: standing, role: role, into: state, now: now, cache, db)
        })
    }

    /// A newcomer starts with nothing unread; the history stays readable.
    private static func insertMember(
        _ subject: Account, standing: Standing, role: MemberRole, into state: ConversationState, now: Millis,
        _ cache: PostgresLaneCache, _ db: PostgresConnection
    ) async throws -> (MembershipChange, Publication?) {
        try await db.run("""
            INSERT INTO members (conversation_id, user_id, position, joined_ts, read_seq, standing, role)
            VALUES (\(state.key), \(subject.key.rawValue), \(state.lastPosition + 1), \(now), \(state.lastSeq),
                \(Int16(Rows.columns(of: standing).code)), \(Int16(role == .admin ? Rows.adminCode : 0)))
            """)
        try await cache.bumpVersion(of: state, db)
        let conversation = try await PostgresRows.conversation(key: state.key, db)
        state.members.append(subject.key)
        state.lastPosition += 1
        state.setStanding(standing, of: subject.key)
        state.blocks = conversation.blocks
        return MembershipChange(kind: .added, conversation: conversation, subject: subject).published(in: state.key)
    }

    public func setRole(conversationID: String, actor: UserKey, userID: String, role: MemberRole) async throws -> MembershipChange {
        try await lane.perform(publishing: { db, cache in
            let state = try await Self.memberState(conversationID, actor, cache, db)
            guard let subject = try await PostgresRows.account(publicID: userID, db) else { throw ChatError.userNotFound }
            let change = try MembershipPolicy.roleChange(
                kind: state.kind, actorRole: try await PostgresRows.role(of: actor, in: state, db) ?? .member, target: subject.key,
                targetRole: try await PostgresRows.role(of: subject.key, in: state, db), to: role)
            func set(_ user: UserKey, admin: Bool) async throws {
                try await db.run("""
                    UPDATE members SET role = \(Int16(admin ? Rows.adminCode : 0))
                    WHERE conversation_id = \(state.key) AND user_id = \(user.rawValue)
                    """)
            }
            switch change {
            case .unchanged:
                return (
                    MembershipChange(kind: .unchanged, conversation: try await PostgresRows.conversation(key: state.key, db), subject: subject),
                    nil
                )
            case .set(let role):
                try await set(subject.key, admin: role == .admin)
            case .handOver:
                try await db.run("UPDATE conversations SET owner_id = \(subject.key.rawValue) WHERE id = \(state.key)")
                try await set(subject.key, admin: false)
                if let previous = state.owner { try await set(previous, admin: true) }
                state.owner = subject.key
            }
            try await cache.bumpVersion(of: state, db)
            let conversation = try await PostgresRows.conversation(key: state.key, db)
            return MembershipChange(kind: .roleChanged, conversation: conversation, subject: subject).published(in: state.key)
        })
    }

    public func createInvite(conversationID: String, actor: UserKey, expiresTS: Millis?, maxUses: Int?) async throws -> Invite {
        let now = self.now()
        return try await lane.perform { db, cache in
            let state = try await Self.memberState(conversationID, actor, cache, db)
            try MembershipPolicy.checkAdd(kind: state.kind, actorRole: try await PostgresRows.role(of: actor, in: state, db) ?? .member)
            let invite = Invite(code: OpaqueID.make(), conversationID: conversationID, expiresTS: expiresTS, maxUses: maxUses, uses: 0)
            try await db.run("""
                INSERT INTO invites (code, conversation_id, created_by, created_ts, expires_ts, max_uses)
                VALUES (\(invite.code), \(state.key), \(actor.rawValue), \(now), \(expiresTS), \(maxUses.map(Int64.init)))
                """)
            return invite
        }
    }

    public func revokeInvite(conversationID: String, actor: UserKey, code: String) async throws -> Bool {
        let now = self.now()
        return try await lane.perform { db, cache in
            let state = try await Self.memberState(conversationID, actor, cache, db)
            try MembershipPolicy.checkAdd(kind: state.kind, actorRole: try await PostgresRows.role(of: actor, in: state, db) ?? .member)
            return try await db.exists("""
                UPDATE invites SET revoked_ts = \(now) WHERE code = \(code) AND conversation_id = \(state.key) AND revoked_ts IS NULL
                RETURNING 1
                """)
        }
    }

    /// An invite that still lets people in at `now` (not revoked, expired
    /// or used up). `now` is a number, written into the statement.
    private static func liveInvite(at now: Millis) -> String {
        "revoked_ts IS NULL AND (expires_ts IS NULL OR expires_ts > \(now)) AND (max_uses IS NULL OR uses < max_uses)"
    }

    public func invites(conversationID: String, actor: UserKey) async throws -> [Invite] {
        let now = self.now()
        return try await lane.perform { db, cache in
            let state = try await Self.memberState(conversationID, actor, cache, db)
            try MembershipPolicy.checkAdd(kind: state.kind, actorRole: try await PostgresRows.role(of: actor, in: state, db) ?? .member)
            return try await db.rows("""
                SELECT code, expires_ts, max_uses, uses FROM invites
                WHERE conversation_id = \(state.key) AND \(unescaped: Self.liveInvite(at: now))
                ORDER BY created_ts DESC, code
                """).map { row in
                let (code, expires, maxUses, uses) = try row.decode((String, Int64?, Int64?, Int64).self)
                return Invite(code: code, conversationID: conversationID, expiresTS: expires, maxUses: maxUses.map(Int.init), uses: Int(uses))
            }
        }
    }

    public func acceptInvite(code: String, member: Account) async throws -> MembershipChange {
        let now = self.now()
        let limits = self.limits
        return try await lane.perform(publishing: { db, cache in
            guard let row = try await db.row("""
                SELECT c.public_id, i.created_by FROM invites i JOIN conversations c ON c.id = i.conversation_id
                WHERE i.code = \(code) AND \(unescaped: Self.liveInvite(at: now))
                """),
                let state = try await cache.lock(publicID: try row.decode((String, Int64).self).0, db)
            else { throw InvitePolicy.notFound }
            let inviter = UserKey(try row.decode((String, Int64).self).1)
            // A member already (or one who declined): no use is spent.
            if state.members.contains(member.key) {
                return (
                    MembershipChange(kind: .unchanged, conversation: try await PostgresRows.conversation(key: state.key, db), subject: member),
                    nil
                )
            }
            try MembershipPolicy.checkRoom(members: state.members.count, adding: 1, limits: limits)
            // The one who made the invite brings the newcomer in.
            try BlockPolicy.checkBringIn(member.key, by: inviter, blocks: try await PostgresRows.blocks(between: inviter, member.key, db))
            // Spent in the same transaction as the join, under the invite's
            // row lock: two people at the last use cannot both get in.
            guard try await db.exists("""
                UPDATE invites SET uses = uses + 1
                WHERE code = \(code) AND \(unescaped: Self.liveInvite(at: now))
                RETURNING 1
                """)
            else { throw InvitePolicy.notFound }
            return try await Self.insertMember(member, standing: .accepted, role: .member, into: state, now: now, cache, db)
        })
    }

    public func removeMember(conversationID: String, actor: UserKey, userID: String) async throws -> MembershipChange {
        try await lane.perform(publishing: { db, cache in
            let state = try await Self.memberState(conversationID, actor, cache, db)
            let subject = try await PostgresRows.account(publicID: userID, db)
            var targetRole: MemberRole?
            if let subject { targetRole = try await PostgresRows.role(of: subject.key, in: state, db) }
            try MembershipPolicy.checkRemove(
                kind: state.kind, actor: actor, actorRole: try await PostgresRows.role(of: actor, in: state, db) ?? .member,
                target: subject?.key, targetRole: targetRole, members: state.members)
            guard let subject else { throw ChatError.userNotFound }
            return try await Self.remove(subject, from: state, cache, db)
        })
    }

    /// Takes a member out of a group, handing it on if they owned it.
    static func remove(
        _ subject: Account, from state: ConversationState, _ cache: PostgresLaneCache, _ db: PostgresConnection
    ) async throws -> (MembershipChange, Publication?) {
        try await db.run("DELETE FROM members WHERE conversation_id = \(state.key) AND user_id = \(subject.key.rawValue)")
        let remaining = state.members.filter { $0 != subject.key }
        var owner = state.owner
        if owner == subject.key {
            owner = MembershipPolicy.nextOwner(remainingByJoinOrder: remaining)
            try await db.run("UPDATE conversations SET owner_id = \(owner?.rawValue) WHERE id = \(state.key)")
        }
        try await cache.bumpVersion(of: state, db)
        let conversation = try await PostgresRows.conversation(key: state.key, db)
        state.members = remaining
        state.owner = owner
        state.setStanding(.accepted, of: subject.key)
        state.blocks = conversation.blocks
        return MembershipChange(kind: .removed, conversation: conversation, subject: subject).published(in: state.key)
    }

    // MARK: Chat requests (docs/PROTOCOL.md, "Chat requests")

    public func accept(conversationID: String, member: Account) async throws -> MembershipChange {
        try await lane.perform(publishing: { db, cache in
            let state = try await Self.memberState(conversationID, member.key, cache, db)
            guard state.standing(of: member.key) != .accepted else {
                return (
                    MembershipChange(kind: .unchanged, conversation: try await PostgresRows.conversation(key: state.key, db), subject: member),
                    nil
                )
            }
            try await PostgresRows.setStanding(.accepted, of: member.key, inConversation: state.key, db)
            try await cache.bumpVersion(of: state, db)
            let conversation = try await PostgresRows.conversation(key: state.key, db)
            state.setStanding(.accepted, of: member.key)
            return MembershipChange(kind: .accepted, conversation: conversation, subject: member).published(in: state.key)
        })
    }

    public func decline(conversationID: String, member: Account) async throws -> MembershipChange {
        let now = self.now()
        return try await lane.perform(publishing: { db, cache in
            let state = try await Self.memberState(conversationID, member.key, cache, db)
            switch ChatRequestPolicy.decline(kind: state.kind, now: now) {
            case .leave:
                return try await Self.remove(member, from: state, cache, db)
            case .hide(let since):
                try await PostgresRows.setStanding(.declined(since: since), of: member.key, inConversation: state.key, db)
                try await cache.bumpVersion(of: state, db)
                let conversation = try await PostgresRows.conversation(key: state.key, db)
                state.setStanding(.declined(since: since), of: member.key)
                return MembershipChange(kind: .declined, conversation: conversation, subject: member).published(in: state.key)
            }
        })
    }
}
