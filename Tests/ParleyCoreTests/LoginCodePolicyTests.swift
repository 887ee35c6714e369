import Testing

@testable import ParleyCore

@Suite("E-mail addresses and log-in codes")
struct LoginCodePolicyTests {
    @Test("addresses are trimmed and lower-cased", arguments: [
        (" Zoe@Example.TEST ", "zoe@example.test"), ("a.b+tag@mail.example.org", "a.b+tag@mail.example.org"), ("x@y.z", "x@y.z"),
    ])
    func goodAddresses(_ typed: String, _ kept: String) throws {
        #expect(try Validation.email(typed) == kept)
    }

    @Test("anything that could not be a mailbox, or could add a header, is refused", arguments: [
        "", "   ", "no-at-sign", "two@@example.test", "a@b@example.test", "@example.test", "zoe@", "zoe@localhost", "zoe@.example",
        "zoe@example.", "zoe smith@example.test", "zoe@example.test\r\nBcc: eve@example.test", "<zoe@example.test>", "zoe@exa\u{0}mple.test",
        "\"zoe\"@example.test", "zoe,eve@example.test", String(repeating: "a", count: 250) + "@b.test",
    ])
    func badAddresses(_ typed: String) {
        #expect(throws: ChatError.self) { try Validation.email(typed) }
    }

    @Test("a code is six digits, zeros kept in front; any of the million comes up")
    func generated() {
        var generator = SeededGenerator(seed: 7)
        var seen = Set<String>()
        for _ in 0..<2000 {
            let code = LoginCodePolicy.generate(using: &generator)
            #expect(code.count == 6 && code.allSatisfy(\.isNumber))
            seen.insert(code)
        }
        #expect(seen.count > 1990, "no value much more likely than another")
        #expect(seen.contains { $0.hasPrefix("0") }, "leading zeros are kept")
    }

    @Test("a code as typed: spaces and dashes dropped; anything but six ASCII digits is no code", arguments: [
        ("123456", "123456"), ("123 456", "123456"), ("123-456", "123456"), ("012345", "012345"), ("12345", nil), ("1234567", nil),
        ("12345a", nil), ("١٢٣٤٥٦", nil), ("", nil),
    ] as [(String, String?)])
    func normalized(_ typed: String, _ code: String?) {
        #expect(LoginCodePolicy.normalized(typed) == code)
    }
}

/// A small deterministic generator (SplitMix64), so the test is the same every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
