import ParleyCore
import ParleyStore

/// What this node does with each event from its broker, whichever node it
/// came from: the hub delivers it to the sessions here, and a revocation or
/// a ban also goes into this node's own lists, which every sign-in checks
/// without a read (a token revoked on one node is refused on all).
struct NodeEventHandler: EventHandler {
    let hub: Hub
    let tokens: TokenAuthority
    let bans: BanList

    func handle(_ event: ChatEvent) {
        switch event {
        case .tokenRevoked(_, let tokenID): tokens.noteRevoked(tokenID)
        case .userBanned(let user, let until): bans.noteBan(user, until: until)
        case .banLifted(let user): bans.noteLifted(user)
        default: break
        }
        hub.handle(event)
    }
}
