import Testing

@testable import ParleyBench

@Suite("Lost and duplicate accounting")
struct SeqSetTests {
    @Test("a second insert of the same seq is a duplicate")
    func duplicates() {
        var s = SeqSet()
        let first = s.insert(5), again = s.insert(5), other = s.insert(200)
        #expect(first && !again && other)
        #expect(s.count == 2 && s.maxSeq == 200)
        #expect(s.contains(5) && s.contains(200) && !s.contains(6) && !s.contains(100_000))
        let negative = s.insert(-1), tooHigh = s.insert(SeqSet.limit)
        #expect(!negative && !tooHigh && s.count == 2)
    }

    @Test("missing counts the expected seqs not held, minus the session's own messages")
    func missing() {
        let expected = SeqSet.range(through: 130)
        var got = SeqSet()
        for q in 1...130 where q % 10 != 0 { got.insert(q) }  // 13 missing
        var own = SeqSet()
        own.insert(10); own.insert(20)  // the session sent these: not expected
        #expect(got.missing(from: expected) == 13)
        #expect(got.missing(from: expected, excluding: own) == 11)
        // Extra seqs held (delivered but never acked) are not "missing".
        got.insert(500)
        #expect(got.missing(from: expected, excluding: own) == 11)
        #expect(expected.missing(from: got) == 1)
    }

    @Test("union of senders' acked seqs")
    func union() {
        var a = SeqSet(), b = SeqSet()
        for q in stride(from: 1, through: 99, by: 2) { a.insert(q) }
        for q in stride(from: 2, through: 300, by: 2) { b.insert(q) }
        a.formUnion(b)
        #expect(a.count == 50 + 150 && a.maxSeq == 300)
        #expect(a.contiguousPrefix == 100)
    }

    @Test("the contiguous prefix is the highest seq with no gap below it")
    func prefix() {
        var s = SeqSet()
        #expect(s.contiguousPrefix == 0)
        s.insert(2)
        #expect(s.contiguousPrefix == 0)
        s.insert(1)
        #expect(s.contiguousPrefix == 2)
        for q in 3...64 { s.insert(q) }
        #expect(s.contiguousPrefix == 64)
        for q in 66...200 { s.insert(q) }
        #expect(s.contiguousPrefix == 64)
        s.insert(65)
        #expect(s.contiguousPrefix == 200)
        #expect(SeqSet.range(through: 127).contiguousPrefix == 127)
        #expect(SeqSet.range(through: 128).contiguousPrefix == 128)
    }
}
