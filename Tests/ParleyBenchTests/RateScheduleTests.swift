import Testing

@testable import ParleyBench

@Suite("Rate mode schedule")
struct RateScheduleTests {
    @Test("senders at a fixed rate start spread evenly over one interval, not in the same instant")
    func staggered() {
        // 100 senders at 50 messages/s each: a 20 ms interval, one start every 0.2 ms.
        let starts = (0..<100).map { SendMode.staggeredStart(1_000, sender: $0, of: 100, perSecond: 50) }
        #expect(starts.first == 1_000)
        #expect(starts.last == 1_000 + 19_800_000)
        let gaps = zip(starts.dropFirst(), starts).map { $0 - $1 }
        #expect(gaps.allSatisfy { (199_999...200_001).contains($0) }, "\(gaps.prefix(5))")
        #expect(SendMode.staggeredStart(7, sender: 0, of: 1, perSecond: 8) == 7, "a lone sender starts at once")
    }
}
