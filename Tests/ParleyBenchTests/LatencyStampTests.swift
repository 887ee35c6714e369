import Testing

@testable import ParleyBench

@Suite("Send stamps in texts and frame ids")
struct LatencyStampTests {
    @Test("a stamp survives the trip through the text, with or without padding")
    func roundTrip() {
        for stamp: UInt64 in [0, 1, 1_234_567_890_123, UInt64.max] {
            for padding in [0, 1, 100] {
                let text = LatencyStamp.text(stamp: stamp, padding: padding)
                #expect(LatencyStamp.stamp(fromText: Array(text.utf8)) == stamp)
                #expect(text.utf8.count == "t=\(stamp)".utf8.count + (padding > 0 ? padding + 1 : 0))
            }
            #expect(LatencyStamp.stamp(fromID: Array("\(stamp)".utf8)) == stamp)
        }
    }

    @Test("texts that are not the bench's give no stamp", arguments: ["", "t=", "hello", "t=12a", "x=12", "T=12", "t=99999999999999999999", "t=-1"])
    func foreign(text: String) {
        #expect(LatencyStamp.stamp(fromText: Array(text.utf8)) == nil)
    }

    @Test("ids that are not stamps give none", arguments: ["", "h1", "12 3", "1.5"])
    func foreignIDs(id: String) {
        #expect(LatencyStamp.stamp(fromID: Array(id.utf8)) == nil)
    }

    @Test("elapsed time never goes negative")
    func elapsed() {
        #expect(LatencyStamp.elapsed(from: 10, to: 25) == 15)
        #expect(LatencyStamp.elapsed(from: 30, to: 25) == 0)
    }
}
