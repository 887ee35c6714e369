import ParleyCore
import Testing

@Suite("External identity rules")
struct ExternalIdentityTests {
    @Test("external ids: any text up to 255 bytes without control characters")
    func externalIDs() throws {
        #expect(try ExternalIdentity.externalID("auth0|5f1c") == "auth0|5f1c")
        #expect(try ExternalIdentity.externalID(String(repeating: "é", count: 127)).utf8.count == 254)
        for bad in [nil, "", String(repeating: "a", count: 256), "a\nb", "a\u{0}b"] as [String?] {
            #expect(throws: ChatError.self, "\(String(describing: bad))") { try ExternalIdentity.externalID(bad) }
        }
    }

    @Test("handle candidates: the preferred one when valid, then distinct random valid ones")
    func candidates() throws {
        let withPreferred = ExternalIdentity.handleCandidates(preferred: "Dana.K")
        #expect(withPreferred.first?.handle == "Dana.K")
        #expect(withPreferred.first?.key == "dana.k")
        #expect(withPreferred.count == 1 + ExternalIdentity.generatedAttempts)
        let generated = ExternalIdentity.handleCandidates(preferred: "no spaces allowed")
        #expect(generated.count == ExternalIdentity.generatedAttempts)
        for candidate in generated {
            #expect(try Validation.handleKey(candidate.handle) == candidate.key)
            #expect(candidate.handle.count == 11)
        }
        #expect(Set(generated.map(\.handle)).count == generated.count)
    }

    @Test("display names from claims: kept when valid, dropped (not refused) otherwise")
    func displayNames() {
        let limits = ChatLimits()
        #expect(ExternalIdentity.displayName("  Dana K. ", limits: limits) == "Dana K.")
        #expect(ExternalIdentity.displayName(nil, limits: limits) == nil)
        #expect(ExternalIdentity.displayName("   ", limits: limits) == nil)
        #expect(ExternalIdentity.displayName(String(repeating: "x", count: 500), limits: limits) == nil)
        #expect(ExternalIdentity.displayName("A\u{200B}dmin", limits: limits) == nil)
    }
}
