/// What an invite may be asked to be, and how a bad one is answered.
public enum InvitePolicy {
    /// Thirty days: an invite link is meant to be passed around, not kept.
    public static let longestLifetimeSeconds: Int64 = 30 * 24 * 3600
    public static let defaultLifetimeSeconds: Int64 = 7 * 24 * 3600
    public static let mostUses = 100_000

    /// Unknown, expired, used up and revoked codes are all answered alike:
    /// which of them it was would tell a guesser something.
    public static let notFound = ChatError.notFound("invite not found, expired, used up or revoked")

    /// When an invite made at `now` expires: `expires_in_s` seconds on (7
    /// days if not given), at most 30 days.
    public static func expiry(inSeconds seconds: Int64?, now: Millis) throws(ChatError) -> Millis {
        let seconds = seconds ?? defaultLifetimeSeconds
        guard (60...longestLifetimeSeconds).contains(seconds) else {
            throw .invalidRequest("expires_in_s must be between 60 and \(longestLifetimeSeconds)")
        }
        return now + seconds * 1000
    }

    /// nil: no limit; otherwise 1 to `mostUses`.
    public static func maxUses(_ uses: Int?) throws(ChatError) -> Int? {
        guard let uses else { return nil }
        guard (1...mostUses).contains(uses) else { throw .invalidRequest("max_uses must be between 1 and \(mostUses)") }
        return uses
    }
}
