/// What one user may see of another's presence.
public struct PresenceView: Sendable, Hashable {
    public let account: Account
    /// False when the viewer may not see this user's presence: they share no
    /// conversation, or one blocked the other.
    public let visible: Bool
    /// When the user's last session closed; nil if never.
    public let lastSeenTS: Millis?

    public init(account: Account, visible: Bool, lastSeenTS: Millis?) {
        self.account = account
        self.visible = visible
        self.lastSeenTS = lastSeenTS
    }
}
