/// Log-in codes sent by e-mail: what they are, how long they last, how many
/// tries they take, and how many may be asked for.
public enum LoginCodePolicy {
    public static let digits = 6
    /// Ten minutes from when it is sent.
    public static let lifetime: Millis = 10 * 60 * 1000
    /// Wrong tries before a code stops working (the right one included after).
    public static let maxTries = 5
    /// Codes sent to one address per `requestWindow`.
    public static let requestsPerAddress = 5
    /// Codes asked for from one client address per `requestWindow`.
    public static let requestsPerClient = 20
    public static let requestWindow: Duration = .seconds(15 * 60)

    /// Six digits, every value as likely (`Int.random` has no modulo bias).
    public static func generate() -> String {
        code(Int.random(in: 0..<1_000_000))
    }

    /// `value` (0 to 999,999) as a code: six digits, zeros in front.
    public static func code(_ value: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: digits - text.count) + text
    }

    /// A code as typed: spaces and dashes people add are dropped; anything
    /// but six digits is no code (and costs no try).
    public static func normalized(_ code: String) -> String? {
        let digitsOnly = code.filter { $0 != " " && $0 != "-" }
        guard digitsOnly.count == digits, digitsOnly.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return digitsOnly
    }
}
