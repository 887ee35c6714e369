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

    @Test("a code is six digits, zeros kept in front")
    func generated() {
        #expect(LoginCodePolicy.code(0) == "000000")
        #expect(LoginCodePolicy.code(42) == "000042")
        #expect(LoginCodePolicy.code(999_999) == "999999")
        for _ in 0..<100 {
            let code = LoginCodePolicy.generate()
            #expect(code.count == 6 && code.allSatisfy { $0.isASCII && $0.isNumber }, "\(code)")
        }
    }

    @Test("a code as typed: spaces and dashes dropped; anything but six ASCII digits is no code", arguments: [
        ("123456", "123456"), ("123 456", "123456"), ("123-456", "123456"), ("012345", "012345"), ("12345", nil), ("1234567", nil),
        ("12345a", nil), ("١٢٣٤٥٦", nil), ("", nil),
    ] as [(String, String?)])
    func normalized(_ typed: String, _ code: String?) {
        #expect(LoginCodePolicy.normalized(typed) == code)
    }
}
