import GRDB
import ParleyCore

/// The `direct_key` of a pair: "low:high" user row ids, one conversation per pair.
enum DirectKey {
    static func of(_ a: UserKey, _ b: UserKey) -> String {
        let (low, high) = a < b ? (a, b) : (b, a)
        return "\(low.rawValue):\(high.rawValue)"
    }
}
