import Testing

@testable import ParleyCore

@Suite("Opaque ids and base64url")
struct OpaqueIDTests {
    @Test("ids are 22 URL-safe characters carrying 128 random bits, and do not repeat")
    func shape() {
        let ids = (0..<10_000).map { _ in OpaqueID.make() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            #expect(id.count == OpaqueID.length)
            #expect(OpaqueID.isWellFormed(id))
            #expect(Base64URL.decode(id)?.count == 16)
        }
    }

    @Test("a seeded generator gives a reproducible id; different seeds differ")
    func seeded() {
        struct Counter: RandomNumberGenerator {
            var state: UInt64
            mutating func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                return state
            }
        }
        var a = Counter(state: 1), b = Counter(state: 1), c = Counter(state: 2)
        #expect(OpaqueID.make(using: &a) == OpaqueID.make(using: &b))
        #expect(OpaqueID.make(using: &a) != OpaqueID.make(using: &c))
    }

    @Test("isWellFormed refuses anything a client could send that we did not make", arguments: [
        "", "short", "AAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA+A", "AAAAAAAAAAAAAAAAAAAA/A",
        "AAAAAAAAAAAAAAAAAAAA=A", "AAAAAAAAAAAAAAAAAAAA A", "1; DROP TABLE users--", "ÅAAAAAAAAAAAAAAAAAAAAA",
    ])
    func malformed(_ candidate: String) {
        #expect(!OpaqueID.isWellFormed(candidate))
    }

    @Test("base64url matches RFC 4648 test vectors without padding", arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
    ])
    func vectors(_ plain: String, _ encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test("base64url uses - and _ and round-trips every byte")
    func urlAlphabet() {
        let bytes = (0...255).map(UInt8.init)
        let encoded = Base64URL.encode(bytes)
        #expect(!encoded.contains("+") && !encoded.contains("/") && !encoded.contains("="))
        #expect(Base64URL.decode(encoded) == bytes)
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
    }

    @Test("base64url decoding refuses foreign characters and non-canonical tails", arguments: ["Zm9v!", "Zm9v+", "Z", "Zh"])
    func invalidBase64(_ text: String) {
        #expect(Base64URL.decode(text) == nil)
    }
}
