import ParleyCore
import ParleyStore

/// Sends `conversation` events as the store commits conversation changes:
/// on the store's writer, in commit order with messages, so a member added
/// hears of the conversation before any message of it.
///
/// Each recipient gets its own encoding: `read_seq`, `unread` and who shows
/// online differ per viewer. Only online recipients cost an encoding.
struct ConversationEvents: ConversationChangeListener {
    let hub: Hub

    func committed(_ change: ConversationChange) {
        switch change {
        case .created(let conversation):
            announce(conversation, change: "created", subject: nil, to: conversation.members.map(\.account))
        case .membership(let membership):
            var recipients = membership.conversation.members.map(\.account)
            let name: String
            switch membership.kind {
            case .added: name = "member_added"
            case .removed:
                name = "member_removed"
                // The one removed hears of it too, and sees themself gone.
                recipients.append(membership.subject)
            case .unchanged: return
            }
            announce(membership.conversation, change: name, subject: membership.subject.user, to: recipients)
        }
    }

    private func announce(_ conversation: Conversation, change: String, subject: User?, to recipients: [Account]) {
        for viewer in recipients {
            let sessions = hub.sessions(of: viewer.key)
            guard !sessions.isEmpty else { continue }
            let frame = ServerFrame.conversation(
                conversation, change: change, subject: subject, viewer: viewer, isOnline: hub.isOnline)
            for session in sessions { session.outbox.send(frame) }
        }
    }
}
