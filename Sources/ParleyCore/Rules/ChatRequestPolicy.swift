/// Chat requests: for products open to strangers, a conversation someone is
/// brought into by a person they share no accepted conversation with waits
/// for them to accept it (docs/PROTOCOL.md, "Chat requests"). Off, everyone
/// is `accepted` and v1 behaviour holds.
public enum ChatRequestPolicy {
    /// A declined direct conversation stays away for this long, whatever
    /// the other writes; a message after that brings it back as a request.
    public static let quietPeriod: Millis = 30 * 24 * 3600 * 1000

    /// Whether chat requests apply to what `introducer` does: the product's
    /// backend vouches for whom it brings together, so conversations it
    /// makes and members it adds are accepted.
    public static func applies(enabled: Bool, introducer: Introducer) -> Bool {
        enabled && introducer == .member
    }

    /// The standing of `subject` when `actor` opens a direct conversation
    /// with them or adds them to a group.
    public static func standing(
        of subject: UserKey, broughtBy actor: UserKey, sharesAcceptedConversation: Bool, enabled: Bool
    ) -> Standing {
        enabled && subject != actor && !sharesAcceptedConversation ? .request : .accepted
    }

    /// A member's standing once they send into the conversation: writing
    /// back accepts a request.
    public static func standingAfterSending(_ standing: Standing) -> Standing {
        standing.isRequest ? .accepted : standing
    }

    /// The standing of a member who declined, once someone else wrote at
    /// `now`: back as a request after the quiet period, otherwise unchanged.
    public static func standingAfterMessage(_ standing: Standing, now: Millis) -> Standing {
        if case .declined(let since) = standing, now - since >= quietPeriod { return .request }
        return standing
    }

    /// What declining comes to.
    public enum Decline: Sendable, Equatable {
        /// A group: declining is leaving it.
        case leave
        /// A direct conversation: hidden from the decliner from `since`.
        case hide(since: Millis)
    }

    public static func decline(kind: ConversationKind, now: Millis) -> Decline {
        kind == .group ? .leave : .hide(since: now)
    }
}

/// Who brings people together in a conversation: one of its members, or the
/// product's backend through the service API (acting as the owner).
public enum Introducer: Sendable, Equatable {
    case member
    case service
}
