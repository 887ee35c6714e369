/// The fast path for reading client frames: one pass over the UTF-8 bytes of
/// a well-formed frame, the shape every client sends, without Foundation's
/// JSONDecoder, which cost a sixth of the server's CPU at full send rate.
///
/// It accepts only what it understands completely: a flat object with the
/// frame's own keys, each once, holding strings, integers, null, or (for
/// `user_ids`) an array of strings. Anything else, wrong or merely unusual
/// (an unknown key, a fraction, a duplicate, a type mismatch), returns nil,
/// and `ClientFrame.decode` takes the JSONDecoder path, which gives the same
/// frame or the error a client developer can act on.
struct ClientFrameParser {
    private enum Key: Int {
        case type, id, token, conversationID, text, clientID, seq, after, before, sinceTS, limit, userIDs
    }

    private var bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    static func parse(_ text: String) -> ClientFrame? {
        var text = text
        return text.withUTF8 { utf8 in
            var parser = ClientFrameParser(bytes: utf8)
            return parser.frame()
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    private mutating func frame() -> ClientFrame? {
        var type: String?
        var id: String?, token: String?, conversationID: String?, text: String?, clientID: String?
        var seq: Int64?, after: Int64?, before: Int64?, sinceTS: Int64?, limit: Int?
        var userIDs: [String]?
        var seen: UInt16 = 0

        guard consume(UInt8(ascii: "{")) else { return nil }
        skipWhitespace()
        if !consume(UInt8(ascii: "}")) {
            repeat {
                skipWhitespace()
                guard let key = key(), seen & (1 << key.rawValue) == 0 else { return nil }
                seen |= 1 << key.rawValue
                skipWhitespace()
                guard consume(UInt8(ascii: ":")) else { return nil }
                skipWhitespace()
                switch key {
                case .type:
                    // Required and never null: let the decoder say so.
                    guard let value = string() else { return nil }
                    type = value
                case .id: guard optional(&id, { $0.string() }) else { return nil }
                case .token: guard optional(&token, { $0.string() }) else { return nil }
                case .conversationID: guard optional(&conversationID, { $0.string() }) else { return nil }
                case .text: guard optional(&text, { $0.string() }) else { return nil }
                case .clientID: guard optional(&clientID, { $0.string() }) else { return nil }
                case .seq: guard optional(&seq, { $0.integer() }) else { return nil }
                case .after: guard optional(&after, { $0.integer() }) else { return nil }
                case .before: guard optional(&before, { $0.integer() }) else { return nil }
                case .sinceTS: guard optional(&sinceTS, { $0.integer() }) else { return nil }
                case .limit: guard optional(&limit, { $0.integer().map(Int.init) }) else { return nil }
                case .userIDs: guard optional(&userIDs, { $0.stringArray() }) else { return nil }
                }
                skipWhitespace()
            } while consume(UInt8(ascii: ","))
            guard consume(UInt8(ascii: "}")) else { return nil }
        }
        skipWhitespace()
        guard index == bytes.count, let type else { return nil }
        return ClientFrame(
            type: type, id: id, token: token, conversationID: conversationID, text: text, clientID: clientID, seq: seq,
            after: after, before: before, sinceTS: sinceTS, limit: limit, userIDs: userIDs)
    }

    // MARK: Pieces

    private mutating func key() -> Key? {
        guard let name = string() else { return nil }
        switch name {
        case "type": return .type
        case "id": return .id
        case "token": return .token
        case "conversation_id": return .conversationID
        case "text": return .text
        case "client_id": return .clientID
        case "seq": return .seq
        case "after": return .after
        case "before": return .before
        case "since_ts": return .sinceTS
        case "limit": return .limit
        case "user_ids": return .userIDs
        default: return nil
        }
    }

    /// `null`, or a value `parse` reads; false for anything else.
    private mutating func optional<Value>(_ value: inout Value?, _ parse: (inout ClientFrameParser) -> Value?) -> Bool {
        if consumeNull() { return true }
        guard let parsed = parse(&self) else { return false }
        value = parsed
        return true
    }

    private mutating func stringArray() -> [String]? {
        guard consume(UInt8(ascii: "[")) else { return nil }
        var list: [String] = []
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return list }
        repeat {
            skipWhitespace()
            guard let element = string() else { return nil }
            list.append(element)
            skipWhitespace()
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "]")) ? list : nil
    }

    /// A JSON integer that fits in 64 bits; nil for fractions, exponents,
    /// leading zeros and anything else.
    private mutating func integer() -> Int64? {
        let negative = consume(UInt8(ascii: "-"))
        let start = index
        var magnitude: UInt64 = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        let digits = index - start
        guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// A JSON string. Runs without escapes are copied as they are; escapes
    /// are decoded, surrogate pairs included. Control characters, bad escapes
    /// and lone surrogates give nil.
    private mutating func string() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        var runStart = index
        var decoded: [UInt8]?
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let run = UnsafeBufferPointer(rebasing: bytes[runStart..<index])
                index += 1
                guard var decoded else { return String(decoding: run, as: UTF8.self) }
                decoded.append(contentsOf: run)
                return String(decoding: decoded, as: UTF8.self)
            case UInt8(ascii: "\\"):
                if decoded == nil { decoded = [] }
                decoded!.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                index += 1
                guard index < bytes.count, appendEscape(to: &decoded!) else { return nil }
                runStart = index
            case 0..<0x20:
                return nil
            default:
                index += 1
            }
        }
        return nil
    }

    /// Decodes the escape after a backslash; `index` is past it afterwards.
    private mutating func appendEscape(to output: inout [UInt8]) -> Bool {
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escape)
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "u"):
            guard let unit = hex4() else { return false }
            var scalar: Unicode.Scalar?
            switch unit {
            case 0xD800..<0xDC00:
                guard consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")), let low = hex4(), (0xDC00..<0xE000).contains(low)
                else { return false }
                scalar = Unicode.Scalar(0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00))
            case 0xDC00..<0xE000: return false
            default: scalar = Unicode.Scalar(UInt32(unit))
            }
            guard let scalar else { return false }
            output.append(contentsOf: Array(String(Character(scalar)).utf8))
        default: return false
        }
        return true
    }

    private mutating func hex4() -> UInt16? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    private mutating func consumeNull() -> Bool {
        guard index + 4 <= bytes.count, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
            bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l")
        else { return false }
        index += 4
        return true
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }
}
