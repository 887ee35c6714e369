/// What message text may say, beyond its length.
public struct ContentPolicy: Sendable, Equatable {
    public enum Links: String, Sendable, CaseIterable {
        case allow, deny
    }

    /// Lower-cased whole words.
    public let bannedWords: Set<String>
    public let links: Links

    public init(bannedWords: some Sequence<String> = [], links: Links = .allow) {
        self.bannedWords = Set(bannedWords.map { $0.lowercased() }.filter { !$0.isEmpty })
        self.links = links
    }

    /// One word per line; blank lines and lines starting with `#` are skipped.
    public static func words(fromFile contents: String) -> [String] {
        contents.split(whereSeparator: \.isNewline)
            .map { String($0.trimmingWhitespace()) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    public func check(_ text: String) throws(ChatError) {
        if !bannedWords.isEmpty {
            for word in Self.words(in: text) where bannedWords.contains(word) {
                throw ChatError(.contentRejected, "the message contains a word that is not allowed here")
            }
        }
        if links == .deny, Self.containsLink(text) {
            throw ChatError(.contentRejected, "links are not allowed here")
        }
    }

    /// Lower-cased runs of letters, digits, marks and apostrophes-free joiners:
    /// what a reader sees as words.
    static func words(in text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            if properties.isAlphabetic || properties.numericType != nil || properties.generalCategory == .nonspacingMark {
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                words.append(current.lowercased())
                current = ""
            }
        }
        if !current.isEmpty { words.append(current.lowercased()) }
        return words
    }

    /// Top-level domains that make a bare `name.tld` a link on their own.
    static let commonTopLevelDomains: Set<String> = [
        "com", "net", "org", "info", "biz", "io", "co", "app", "dev", "ai", "xyz", "me", "tv", "gg", "ly", "site", "online",
        "shop", "store", "club", "link", "click", "top", "live", "edu", "gov", "ru", "de", "uk", "fr", "cn", "nl", "eu", "us",
    ]

    /// A scheme URL (`https://…`, `ftp://…`), `www.…`, `mailto:`, or a bare
    /// domain: labels joined by dots ending in a letters-only top-level label,
    /// either a common one or one followed by a path.
    static func containsLink(_ text: String) -> Bool {
        let lower = text.lowercased()
        if lower.contains("://") || lower.contains("mailto:") { return true }
        let scalars = Array(lower.unicodeScalars)
        func isLabel(_ s: Unicode.Scalar) -> Bool {
            (s >= "a" && s <= "z") || (s >= "0" && s <= "9") || s == "-"
        }
        // "www." starting a word ("Awww. so cute" is not a link).
        let www = Array("www.".unicodeScalars)
        for start in scalars.indices.dropLast(www.count - 1)
        where scalars[start...].starts(with: www) && (start == 0 || !scalars[start - 1].properties.isAlphabetic) {
            return true
        }
        var index = 0
        while index < scalars.count {
            guard isLabel(scalars[index]) else {
                index += 1
                continue
            }
            // A run of labels separated by single dots.
            var labels: [[Unicode.Scalar]] = [[]]
            var position = index
            while position < scalars.count {
                let s = scalars[position]
                if isLabel(s) {
                    labels[labels.count - 1].append(s)
                } else if s == ".", !labels[labels.count - 1].isEmpty, position + 1 < scalars.count, isLabel(scalars[position + 1]) {
                    labels.append([])
                } else {
                    break
                }
                position += 1
            }
            if labels.count >= 2, let top = labels.last, (2...24).contains(top.count), top.allSatisfy({ $0 >= "a" && $0 <= "z" }),
                labels.dropLast().allSatisfy({ !$0.isEmpty })
            {
                let next = position < scalars.count ? scalars[position] : " "
                // "example.com" is a link; "see file.txt" is not, unless a path follows.
                if next == "/" || (Self.commonTopLevelDomains.contains(String(String.UnicodeScalarView(top))) && !isLabel(next)) {
                    return true
                }
            }
            index = max(position, index + 1)
        }
        return false
    }
}
