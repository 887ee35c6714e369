/// Random, URL-safe identifiers: the only ids that ever leave the server.
///
/// 128 random bits from the system's cryptographically secure generator
/// (getrandom on Linux), written as 22 characters of unpadded base64url.
/// They carry no order and no relation to row ids, so they reveal nothing
/// about how many users or messages exist.
public enum OpaqueID {
    public static let length = 22

    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return make(using: &generator)
    }

    public static func make(using generator: inout some RandomNumberGenerator) -> String {
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (UInt64(index) * 8))
            bytes[index + 8] = UInt8(truncatingIfNeeded: low >> (UInt64(index) * 8))
        }
        return Base64URL.encode(bytes)
    }

    /// True when `text` could be an id this server made; lets handlers reject
    /// garbage before it reaches the store.
    public static func isWellFormed(_ text: some StringProtocol) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy(Base64URL.isAlphabetByte)
    }
}
