/// Users the product knows by its own id (`sub` of its tokens, the path of
/// the service API): what such an id may be, and the handle and display
/// name a user made from it gets.
public enum ExternalIdentity {
    /// Handles tried for a new user when the preferred one is missing,
    /// invalid or taken: random, so that a handle says nothing of the
    /// external id, and enough of them that all being taken cannot happen.
    public static let generatedAttempts = 3

    /// An external id is the product's business: any text up to 255 bytes
    /// but for control characters, which no id system uses and which would
    /// make logs and lookups ambiguous.
    public static func externalID(_ id: String?) throws(ChatError) -> String {
        guard let id, !id.isEmpty else { throw .invalidRequest("an external id is required") }
        guard id.utf8.count <= 255 else { throw .invalidRequest("an external id is at most 255 bytes") }
        guard !id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidRequest("an external id must not contain control characters")
        }
        return id
    }

    /// The handles to try for a new user, in order: the preferred one if it
    /// is a valid handle, then random ones (`u` and 10 of `a-z 0-9`).
    public static func handleCandidates(preferred: String?) -> [(handle: String, key: String)] {
        var candidates: [(handle: String, key: String)] = []
        if let preferred, let key = try? Validation.handleKey(preferred) {
            candidates.append((preferred, key))
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<generatedAttempts {
            let handle = generatedHandle(using: &generator)
            candidates.append((handle, handle))
        }
        return candidates
    }

    /// The display name from the product's claim, or none (the handle is
    /// used) when it is missing or would be refused from a person: a
    /// product's odd name must not keep its user out.
    public static func displayName(_ name: String?, limits: ChatLimits) -> String? {
        guard let name, let valid = try? Validation.displayName(name, handle: "", limits: limits), !valid.isEmpty else {
            return nil
        }
        return valid
    }

    static func generatedHandle(using generator: inout some RandomNumberGenerator) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        let tail = (0..<10).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        return "u" + String(decoding: tail, as: UTF8.self)
    }
}
