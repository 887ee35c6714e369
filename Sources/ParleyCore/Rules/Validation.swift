/// Input validation. Every function either returns the normalised value or
/// throws a `ChatError` a client can act on.
public enum Validation {
    /// A handle is 3 to 32 characters of `a-z 0-9 _ . -`; upper-case letters
    /// are accepted and kept for display, and uniqueness ignores case.
    /// Returns the case-folded key that uniqueness and lookups use.
    public static func handleKey(_ handle: String) throws(ChatError) -> String {
        let count = handle.utf8.count
        guard (3...32).contains(count) else {
            throw .invalidRequest("handle must be 3 to 32 characters")
        }
        for byte in handle.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                continue
            default:
                throw .invalidRequest("handle may contain only a-z, 0-9, '_', '.' and '-'")
            }
        }
        return handle.lowercased()
    }

    /// An e-mail address: trimmed and lower-cased (the one form it is kept
    /// and compared in), at most 254 bytes, one `@` between a local part and
    /// a domain with a dot, no spaces or control characters. Deliverability
    /// is the mail server's to judge.
    public static func email(_ email: String?) throws(ChatError) -> String {
        let trimmed = String((email ?? "").trimmingWhitespace()).lowercased()
        guard !trimmed.isEmpty else { throw .invalidRequest("email is required") }
        guard trimmed.utf8.count <= 254 else { throw .invalidRequest("email is longer than 254 bytes") }
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !trimmed.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }),
            !trimmed.contains(where: { "<>,;:\"\\()[]".contains($0) })
        else { throw .invalidRequest("email is not an e-mail address") }
        return trimmed
    }

    public static func password(_ password: String) throws(ChatError) {
        guard password.count >= 8 else { throw .invalidRequest("password must have at least 8 characters") }
        guard password.utf8.count <= 1024 else { throw .invalidRequest("password is longer than 1024 bytes") }
    }

    public static func displayName(_ name: String?, handle: String, limits: ChatLimits) throws(ChatError) -> String {
        guard let name else { return handle }
        let trimmed = name.trimmingWhitespace()
        guard !trimmed.isEmpty else { return handle }
        guard trimmed.count <= limits.maxDisplayNameChars else {
            throw .invalidRequest("display_name must be at most \(limits.maxDisplayNameChars) characters")
        }
        try checkShownName(trimmed, field: "display_name")
        return String(trimmed)
    }

    public static func groupTitle(_ title: String?, limits: ChatLimits) throws(ChatError) -> String {
        let trimmed = (title ?? "").trimmingWhitespace()
        guard !trimmed.isEmpty else { throw .invalidRequest("a group needs a title") }
        guard trimmed.count <= limits.maxTitleChars else {
            throw .invalidRequest("title must be at most \(limits.maxTitleChars) characters")
        }
        try checkShownName(trimmed, field: "title")
        return String(trimmed)
    }

    /// Message text is stored exactly as sent; it only has to say something
    /// and fit. Length counts characters as people see them, not bytes.
    public static func messageText(_ text: String?, limits: ChatLimits) throws(ChatError) {
        guard let text else { throw .invalidRequest("text is required") }
        guard !text.trimmingWhitespace().isEmpty else { throw .invalidRequest("text must not be empty") }
        // SQLite text ends at a NUL; refusing it keeps "stored exactly as sent" true.
        guard !text.utf8.contains(0) else { throw .invalidRequest("text must not contain U+0000 (NUL)") }
        // Cheap bound first: a string can't have more characters than bytes.
        if text.utf8.count > limits.maxMessageChars, text.count > limits.maxMessageChars {
            throw .tooLarge("text is longer than \(limits.maxMessageChars) characters")
        }
    }

    public static func clientID(_ clientID: String?, limits: ChatLimits) throws(ChatError) -> String {
        guard let clientID, !clientID.isEmpty else { throw .invalidRequest("client_id is required") }
        // Two ids differing only after a NUL would be stored as one: refuse it.
        guard !clientID.utf8.contains(0) else { throw .invalidRequest("client_id must not contain U+0000 (NUL)") }
        guard clientID.count <= limits.maxClientIDChars else {
            throw .invalidRequest("client_id must be at most \(limits.maxClientIDChars) characters")
        }
        return clientID
    }

    /// A search prefix: trimmed, not empty, bounded; returned lower-cased,
    /// as the search keys are stored.
    public static func searchPrefix(_ query: String?, limits: ChatLimits) throws(ChatError) -> String {
        let trimmed = (query ?? "").trimmingWhitespace()
        guard !trimmed.isEmpty else { throw .invalidRequest("q is required: the start of a handle or display name") }
        guard trimmed.count <= limits.searchQueryMaxChars else {
            throw .invalidRequest("q must be at most \(limits.searchQueryMaxChars) characters")
        }
        guard !trimmed.utf8.contains(0) else { throw .invalidRequest("q must not contain U+0000 (NUL)") }
        return SearchKey.fold(String(trimmed))
    }

    public static func pageSize(_ limit: Int?, default defaultSize: Int, max maxSize: Int) throws(ChatError) -> Int {
        guard let limit else { return defaultSize }
        guard limit >= 1 else { throw .invalidRequest("limit must be at least 1") }
        return min(limit, maxSize)
    }

    /// Exactly one of after / before / since_ts, or none for the newest page.
    public static func historyWindow(after: Int64?, before: Int64?, sinceTS: Millis?) throws(ChatError) -> HistoryWindow {
        switch (after, before, sinceTS) {
        case (nil, nil, nil): return .latest
        case (let after?, nil, nil):
            guard after >= 0 else { throw .invalidRequest("after must be 0 or more") }
            return .after(after)
        case (nil, let before?, nil):
            guard before >= 1 else { throw .invalidRequest("before must be 1 or more") }
            return .before(before)
        case (nil, nil, let since?):
            return .since(since)
        default:
            throw .invalidRequest("give at most one of after, before and since_ts")
        }
    }
}

extension StringProtocol {
    public func trimmingWhitespace() -> Substring {
        let scalars = Substring(self).unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return Substring(scalars[start...end])
    }
}

extension Validation {
    /// Names shown to other people (display names, titles) carry no control
    /// characters, and nothing that makes them look like another name:
    /// bidirectional controls reorder what follows (`\u{202E}`), invisible
    /// characters hide inside one (`A\u{200B}dmin` for `Admin`).
    static func checkShownName(_ name: Substring, field: String) throws(ChatError) {
        for scalar in name.unicodeScalars {
            if scalar.isControl { throw .invalidRequest("\(field) must not contain control characters") }
            if scalar.isBidiControl { throw .invalidRequest("\(field) must not contain bidirectional controls") }
            if scalar.isInvisible { throw .invalidRequest("\(field) must not contain invisible characters") }
        }
    }
}

extension Unicode.Scalar {
    var isControl: Bool { properties.generalCategory == .control }
    /// U+202A–U+202E (embeddings, overrides) and U+2066–U+2069 (isolates).
    var isBidiControl: Bool { (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value) }
    /// Zero-width space, non-joiner and joiner, word joiner, and the byte
    /// order mark used as a zero-width no-break space.
    var isInvisible: Bool { (0x200B...0x200D).contains(value) || value == 0x2060 || value == 0xFEFF }
}
