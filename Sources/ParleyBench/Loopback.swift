// The bench floods whatever it points at, so it refuses every target that is
// not this machine: a typo in --server must not turn it on someone else.

/// A parsed `--server` URL that is known to point at a loopback address.
public struct LoopbackTarget: Sendable, Equatable {
    /// The host as written in the URL (brackets removed for IPv6).
    public var host: String
    public var port: Int

    /// `http://HOST:PORT`, for the HTTP client.
    public var httpBase: String {
        host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }

    /// The address the WebSocket client connects to. `localhost` becomes
    /// 127.0.0.1 so that source addresses 127.0.0.x can be bound (an IPv4
    /// source cannot reach ::1).
    public var connectHost: String { host.lowercased() == "localhost" ? "127.0.0.1" : host }

    /// True when the client may bind several 127.0.0.x source addresses.
    public var isIPv4: Bool { !connectHost.contains(":") }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

public enum LoopbackError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case notLoopback(String)

    public var description: String {
        switch self {
        case .malformed(let url): return "not an http://HOST:PORT URL: \(url)"
        case .notLoopback(let host):
            return "refusing \(host): parley-bench only targets 127.0.0.0/8, ::1 or localhost"
        }
    }
}

public enum Loopback {
    /// Parses `http://HOST[:PORT][/]` and accepts it only if HOST is loopback.
    public static func parse(_ url: String) throws -> LoopbackTarget {
        var rest = Substring(url)
        guard rest.lowercased().hasPrefix("http://") else { throw LoopbackError.malformed(url) }
        rest = rest.dropFirst("http://".count)
        if let slash = rest.firstIndex(of: "/") {
            guard rest[slash...].allSatisfy({ $0 == "/" }) else { throw LoopbackError.malformed(url) }
            rest = rest[..<slash]
        }
        guard !rest.contains("@") else { throw LoopbackError.malformed(url) }
        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw LoopbackError.malformed(url) }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw LoopbackError.malformed(url) }
                portText = after.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        var port = 80
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw LoopbackError.malformed(url) }
            port = p
        }
        guard !host.isEmpty else { throw LoopbackError.malformed(url) }
        guard isLoopback(String(host)) else { throw LoopbackError.notLoopback(String(host)) }
        return LoopbackTarget(host: String(host), port: port)
    }

    /// `localhost`, any dotted-quad 127.x.y.z, or IPv6 ::1 (in any spelling
    /// of zeros). Names other than localhost are refused rather than resolved:
    /// resolution could change between the check and the connect.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        if h == "localhost" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4 {
            let octets = parts.map { part -> Int? in
                guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber) else { return nil }
                return Int(part).flatMap { $0 <= 255 ? $0 : nil }
            }
            guard octets.allSatisfy({ $0 != nil }) else { return false }
            return octets[0] == 127
        }
        return isIPv6Loopback(h)
    }

    private static func isIPv6Loopback(_ h: String) -> Bool {
        guard h.contains(":"), h.allSatisfy({ $0 == ":" || $0.isHexDigit }) else { return false }
        // Expand "::" and require seven zero groups followed by a 1.
        let halves = h.components(separatedBy: "::")
        guard halves.count <= 2 else { return false }
        func groups(_ s: String) -> [Substring] { s.isEmpty ? [] : s.split(separator: ":", omittingEmptySubsequences: false) }
        var all: [Substring]
        if halves.count == 2 {
            let left = groups(halves[0]), right = groups(halves[1])
            let missing = 8 - left.count - right.count
            guard missing >= 1 else { return false }
            all = left + Array(repeating: "0", count: missing) + right
        } else {
            all = groups(h)
        }
        guard all.count == 8, all.allSatisfy({ !$0.isEmpty && $0.count <= 4 }) else { return false }
        let values = all.map { Int($0, radix: 16) ?? -1 }
        return values.dropLast().allSatisfy { $0 == 0 } && values.last == 1
    }
}
