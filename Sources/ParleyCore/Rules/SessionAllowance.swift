/// How many sessions of one user a node may hold when the limit per user
/// counts every node's (`AbuseControls.maxSessionsPerUser`).
///
/// Each node records its count of the user's sessions, and only a record
/// may let new ones in: sessions wait until their node's count, with
/// them in it, is recorded under the user's lock. So two nodes cannot both
/// take the last place, and a node's recorded count is never below the
/// sessions it let in.
public enum SessionAllowance {
    /// The count a node records for the user: all it `wants` (the sessions
    /// it has, admitted or waiting) if that fits beside the `elsewhere`
    /// (other nodes' recorded counts), else as many as fit, but never
    /// fewer than those it `admitted` already, which are not taken back
    /// (a node given up and recording its users again finds others may
    /// have taken their places meanwhile).
    public static func granted(wants: Int, admitted: Int, elsewhere: Int, limit: Int) -> Int {
        max(admitted, min(wants, limit - elsewhere), 0)
    }
}
