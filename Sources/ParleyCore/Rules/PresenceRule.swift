/// When a user's presence changes for their contacts, with sessions on
/// any number of nodes: online at their first session anywhere, offline at
/// their last one everywhere (or when the node holding it is given up).
public enum PresenceRule {
    /// Whether a change of this node's sessions of a user (its first one
    /// opened, or its last one closed) is news to their contacts: only if
    /// no other node has sessions of theirs.
    public static func isNews(changedHere: Bool, onlineElsewhere: Bool) -> Bool {
        changedHere && !onlineElsewhere
    }

    /// How often a node says it is alive, and how long the others wait
    /// after its last word before they announce its users offline: a node
    /// that dies is noticed within `silenceLimit` + `heartbeat`, 12 s, inside
    /// the 15 s the contract allows.
    public static let heartbeat: Millis = 2_000
    public static let silenceLimit: Millis = 10_000
}
