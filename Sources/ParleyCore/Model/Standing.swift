/// Where one member stands in a conversation. Without chat requests every
/// member is `accepted`; with them (`ChatLimits.chatRequests`), someone a
/// stranger brings in starts as a `request`.
public enum Standing: Sendable, Hashable {
    case accepted
    /// Brought in by someone they share no accepted conversation with: the
    /// others do not see their presence, receipts or typing through it
    /// until they accept it (or send into it).
    case request
    /// A direct conversation they declined at `since`: gone from their list,
    /// and they hear nothing from it, until they open it again or are
    /// written to after `ChatRequestPolicy.quietPeriod`.
    case declined(since: Millis)

    public var isRequest: Bool { self == .request }
    public var isDeclined: Bool {
        if case .declined = self { return true }
        return false
    }
}
