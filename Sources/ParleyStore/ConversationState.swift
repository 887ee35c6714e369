import ParleyCore

/// The hot state of one conversation that a store's writer keeps in memory,
/// so that appending a message needs no read: the last seq, and who the
/// members are and how they stand. Owned by one writer (the SQLite write
/// lane, the PostgreSQL write lane), never shared between threads.
final class ConversationState {
    let key: Int64
    let publicID: String
    let kind: ConversationKind
    var owner: UserKey?
    var lastSeq: Int64
    var lastActivityTS: Millis
    /// The `ActivityOrder` stamp of its last activity.
    var activity: Int64
    /// In join order. Handed out with every appended message as its
    /// recipients; arrays are copy-on-write, so that costs no copy.
    var members: [UserKey]
    var lastPosition: Int64
    /// The blocks among the members, with who blocked whom.
    var blocks: BlockSet
    /// The members who have not accepted (requests, declines); usually empty.
    var standings: [UserKey: Standing]
    /// Written in the current batch (SQLite's lane writes the row once, at the end).
    var isDirty = false
    /// `conversations.state_version` when this was read (PostgreSQL, where
    /// other processes write too: another version means read it again).
    var version: Int64 = 0

    init(
        key: Int64, publicID: String, kind: ConversationKind, owner: UserKey?, lastSeq: Int64, lastActivityTS: Millis,
        activity: Int64, members: [UserKey], lastPosition: Int64, blocks: BlockSet, standings: [UserKey: Standing]
    ) {
        self.key = key
        self.publicID = publicID
        self.kind = kind
        self.owner = owner
        self.lastSeq = lastSeq
        self.lastActivityTS = lastActivityTS
        self.activity = activity
        self.members = members
        self.lastPosition = lastPosition
        self.blocks = blocks
        self.standings = standings
    }

    /// A member who has not declined the conversation: one who may act in it.
    func isMember(_ user: UserKey) -> Bool {
        members.contains(user) && !(standings[user]?.isDeclined ?? false)
    }

    func standing(of user: UserKey) -> Standing { standings[user] ?? .accepted }

    /// A direct conversation whose two people are separated by a block:
    /// nobody sends in it.
    var isBlockedDirect: Bool {
        kind == .direct && members.count == 2 && blocks.separates(members[0], members[1])
    }

    /// Who hears of what happens here: the members, but for those who
    /// declined it. Without declines, the members array itself (no copy).
    var listeners: [UserKey] {
        guard standings.values.contains(where: \.isDeclined) else { return members }
        return members.filter { !(standings[$0]?.isDeclined ?? false) }
    }

    func setStanding(_ standing: Standing, of user: UserKey) {
        standings[user] = standing == .accepted ? nil : standing
    }

    /// What a message from `sender` changes in how members stand
    /// (docs/PROTOCOL.md, "Chat requests"): writing into a request accepts
    /// it; a direct conversation declined long enough ago comes back to the
    /// decliner as a request. Applied to this state; the caller writes the
    /// rows and tells the members.
    func standingChanges(afterMessageFrom sender: UserKey, now: Millis) -> [(member: UserKey, standing: Standing, kind: MembershipChange.Kind)] {
        var changes: [(member: UserKey, standing: Standing, kind: MembershipChange.Kind)] = []
        for (member, standing) in standings {
            let next = member == sender
                ? ChatRequestPolicy.standingAfterSending(standing)
                : ChatRequestPolicy.standingAfterMessage(standing, now: now)
            guard next != standing else { continue }
            changes.append((member, next, next == .accepted ? .accepted : .reopened))
        }
        for change in changes { setStanding(change.standing, of: change.member) }
        return changes
    }
}
