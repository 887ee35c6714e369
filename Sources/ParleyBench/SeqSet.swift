// Lost and duplicated deliveries are counted exactly, per session and
// conversation, with one bit per seq: small enough for millions of
// deliveries, and precise where a counter would hide a loss behind a
// duplicate.

/// A set of seq numbers (1, 2, 3 …) stored as a growable bitset.
public struct SeqSet: Sendable, Equatable {
    private var words: [UInt64] = []
    /// Number of distinct seqs in the set.
    public private(set) var count = 0
    /// Highest seq in the set, 0 when empty.
    public private(set) var maxSeq = 0

    /// The most seqs one set will hold (bounds memory on a malicious seq).
    public static let limit = 1 << 26

    public init() {}

    /// Inserts `seq`; false when it was already there (a duplicate) or is out
    /// of range.
    @discardableResult
    public mutating func insert(_ seq: Int) -> Bool {
        guard seq >= 0, seq < SeqSet.limit else { return false }
        let w = seq >> 6, bit = UInt64(1) << UInt64(seq & 63)
        if w >= words.count {
            words.append(contentsOf: repeatElement(0, count: max(w + 1 - words.count, words.count)))
        }
        if words[w] & bit != 0 { return false }
        words[w] |= bit
        count += 1
        if seq > maxSeq { maxSeq = seq }
        return true
    }

    public func contains(_ seq: Int) -> Bool {
        guard seq >= 0 else { return false }
        let w = seq >> 6
        return w < words.count && words[w] & (UInt64(1) << UInt64(seq & 63)) != 0
    }

    /// Inserts every seq of `other`.
    public mutating func formUnion(_ other: SeqSet) {
        if other.words.count > words.count {
            words.append(contentsOf: repeatElement(0, count: other.words.count - words.count))
        }
        var n = 0
        for i in words.indices {
            if i < other.words.count { words[i] |= other.words[i] }
            n += words[i].nonzeroBitCount
        }
        count = n
        maxSeq = Swift.max(maxSeq, other.maxSeq)
    }

    /// How many seqs of `expected` are neither in `self` nor in `excluded`:
    /// the messages a session should have received and did not.
    public func missing(from expected: SeqSet, excluding excluded: SeqSet = SeqSet()) -> Int {
        var n = 0
        for i in expected.words.indices {
            let mine = i < words.count ? words[i] : 0
            let skip = i < excluded.words.count ? excluded.words[i] : 0
            n += (expected.words[i] & ~mine & ~skip).nonzeroBitCount
        }
        return n
    }

    /// The highest seq h such that 1…h are all in the set (0 if 1 is missing).
    public var contiguousPrefix: Int {
        var h = 0
        for (i, word) in words.enumerated() {
            // Seq 0 is never used: treat its bit as present.
            let w = i == 0 ? word | 1 : word
            if w == .max { h = i * 64 + 63; continue }
            let firstZero = (~w).trailingZeroBitCount
            return i * 64 + firstZero - 1
        }
        return h
    }

    /// A set holding 1…n.
    public static func range(through n: Int) -> SeqSet {
        var s = SeqSet()
        if n >= 1 { for q in 1...min(n, limit - 1) { s.insert(q) } }
        return s
    }
}
