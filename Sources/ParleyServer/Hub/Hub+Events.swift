import ParleyCore
import ParleyStore

/// Where events reach sessions: the hub is this node's `EventHandler`. Each
/// event is encoded here, once for all of this node's sessions that hear it
/// (a `conversation` event once per viewer, since read state and presence
/// differ per viewer), and only if one of them is connected here.
extension Hub: EventHandler {
    func handle(_ event: ChatEvent) {
        switch event {
        case .messageStored(let message, let sender, let recipients, let blockedBy, let origin):
            deliver(message, sender: sender, recipients: recipients, blockedBy: blockedBy, except: origin)
        case .readMarkMoved(let mark, let reader, let receiptRecipients, let origin):
            deliver(
                { ServerFrame.receipt(conversationID: mark.conversationID, userID: reader.user.id, seq: mark.readSeq) },
                to: receiptRecipients)
            deliver({ ServerFrame.readState(mark) }, to: [reader.key], except: origin)
        case .conversationCreated(let conversation):
            announce(conversation, change: "created", subject: nil, to: conversation.listeners)
        case .membershipChanged(let membership):
            var recipients = membership.conversation.listeners
            let name: String
            switch membership.kind {
            case .added: name = "member_added"
            case .removed:
                name = "member_removed"
                // The one removed hears of it too, and sees themself gone.
                recipients.append(membership.subject)
            case .accepted:
                // Everyone: the member now shows online and sends receipts.
                name = "accepted"
            case .declined:
                // Only the decliner's own sessions: the others are not told.
                name = "declined"
                recipients = [membership.subject]
            case .reopened:
                name = "reopened"
                recipients = [membership.subject]
            case .roleChanged: name = "role_changed"
            case .unchanged: return
            }
            announce(membership.conversation, change: name, subject: membership.subject.user, to: recipients)
        case .typing(let conversationID, let typer, let recipients):
            deliver({ ServerFrame.typing(conversationID: conversationID, userID: typer.id) }, to: recipients)
        case .onlineChanged(let account, let online, let lastSeenTS, let contacts):
            setOnlineAnywhere(account.key, online)
            deliver({ ServerFrame.presence(userID: account.user.id, online: online, lastSeenTS: lastSeenTS) }, to: contacts)
        case .presenceChanged(let user, let online, let lastSeenTS, let viewers):
            deliver({ ServerFrame.presence(userID: user.id, online: online, lastSeenTS: lastSeenTS) }, to: viewers)
        case .tokenRevoked(let user, let tokenID):
            closeSessions(user: user, tokenID: tokenID, code: CloseCode.unauthenticated, reason: "token revoked")
        case .userBanned(let user, let until):
            closeSessions(user: user, code: CloseCode.banned, reason: "banned until \(until)")
        case .banLifted:
            break
        case .messagesUpdated(let messages, let recipients):
            for message in messages {
                deliver({ ServerFrame.messageUpdated(message) }, to: recipients)
            }
        case .userErased(let user):
            closeSessions(user: user, code: CloseCode.unauthenticated, reason: "account erased")
        case .accountChanged(let account):
            for session in sessions(of: account.key) { session.account = account }
        case .eventsMissed:
            for session in allSessions() {
                session.outbox.close(code: CloseCode.serviceRestart, reason: "missed events: reconnect and catch up", discardingQueued: true)
            }
        }
    }

    /// A `conversation` event, encoded for each viewer with sessions here:
    /// `read_seq`, `unread` and who shows online differ per viewer.
    private func announce(_ conversation: Conversation, change: String, subject: User?, to viewers: [Account]) {
        for viewer in viewers {
            let sessions = sessions(of: viewer.key)
            guard !sessions.isEmpty else { continue }
            let frame = ServerFrame.conversation(conversation, change: change, subject: subject, viewer: viewer, isOnline: isOnline)
            for session in sessions { session.outbox.send(frame) }
        }
    }
}
