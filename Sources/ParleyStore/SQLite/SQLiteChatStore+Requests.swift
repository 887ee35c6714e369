import GRDB
import ParleyCore

/// Chat requests: accepting and declining a conversation
/// (docs/PROTOCOL.md, "Chat requests").
extension SQLiteChatStore {
    public func accept(conversationID: String, member: Account) async throws -> MembershipChange {
        try await lane.perform(publishing: { db, cache in
            let state = try Self.memberState(conversationID, member.key, cache, db)
            guard state.standing(of: member.key) != .accepted else {
                return (MembershipChange(kind: .unchanged, conversation: try Rows.conversation(key: state.key, db), subject: member), nil)
            }
            try Rows.setStanding(.accepted, of: member.key, inConversation: state.key, db)
            let conversation = try Rows.conversation(key: state.key, db)
            state.setStanding(.accepted, of: member.key)
            return MembershipChange(kind: .accepted, conversation: conversation, subject: member).published(in: state.key)
        })
    }

    public func decline(conversationID: String, member: Account) async throws -> MembershipChange {
        let now = self.now()
        return try await lane.perform(publishing: { db, cache in
            let state = try Self.memberState(conversationID, member.key, cache, db)
            switch ChatRequestPolicy.decline(kind: state.kind, now: now) {
            case .leave:
                return try Self.remove(member, from: state, db)
            case .hide(let since):
                try Rows.setStanding(.declined(since: since), of: member.key, inConversation: state.key, db)
                let conversation = try Rows.conversation(key: state.key, db)
                state.setStanding(.declined(since: since), of: member.key)
                return MembershipChange(kind: .declined, conversation: conversation, subject: member).published(in: state.key)
            }
        })
    }
}
