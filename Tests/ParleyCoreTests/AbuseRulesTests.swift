import ParleyCore
import Testing

@Suite("Abuse rules")
struct AbuseRulesTests {
    @Test("a token bucket allows its burst, then one per 1/rate, and says how long to wait")
    func tokenBucket() {
        let start = ContinuousClock.now
        var bucket = TokenBucket(rate: 2, burst: 3, now: start)
        var waits: [Duration?] = []
        for _ in 0..<4 { waits.append(bucket.take(now: start)) }
        #expect(waits == [nil, nil, nil, .milliseconds(500)])
        let early = bucket.take(now: start + .milliseconds(499))
        let onTime = bucket.take(now: start + .milliseconds(500))
        #expect(early != nil && onTime == nil)
        let fullSoon = bucket.isFull(now: start + .milliseconds(500))
        let fullLater = bucket.isFull(now: start + .seconds(10))
        #expect(!fullSoon && fullLater)
        waits = []
        for _ in 0..<4 { waits.append(bucket.take(now: start + .seconds(10))) }
        #expect(waits.map { $0 == nil } == [true, true, true, false], "refills up to the burst, no further")
    }

    @Test("durations become whole milliseconds, rounded down")
    func wholeMilliseconds() {
        #expect(Duration.seconds(600).wholeMilliseconds == 600_000)
        #expect(Duration.milliseconds(1500).wholeMilliseconds == 1500)
        #expect(Duration.microseconds(2_999).wholeMilliseconds == 2)
        #expect(Duration.zero.wholeMilliseconds == 0)
    }

    @Test("an event window is over once more than its limit fall within it, and forgets old events")
    func eventWindow() {
        let start = ContinuousClock.now
        var window = EventWindow(limit: 2, window: .seconds(10))
        let first = window.record(now: start)
        let second = window.record(now: start + .seconds(1))
        let third = window.record(now: start + .seconds(2))
        #expect(!first && !second && third, "the third within 10 s is over")
        let wait = window.retryAfter(now: start + .seconds(2))
        #expect(wait == .seconds(8))
        let over = window.isOver(now: start + .milliseconds(10_001))
        #expect(!over, "the first has left the window")
        let empty = window.isEmpty(now: start + .seconds(20))
        #expect(empty)
    }

    @Test("banned words match whole words in any case", arguments: [
        ("buy spam now", true), ("SPAM!", true), ("spam", true), ("(Spam)", true), ("spammer", false), ("antispam", false),
        ("sp am", false), ("écrire spam", true), ("nothing here", false),
    ])
    func bannedWords(_ text: String, _ rejected: Bool) {
        let policy = ContentPolicy(bannedWords: ["Spam"])
        do {
            try policy.check(text)
            #expect(!rejected, "\(text) passed")
        } catch {
            #expect(rejected, "\(text) was refused")
            #expect(error.code == .contentRejected)
        }
    }

    @Test("with links denied, URLs and domains are refused, ordinary dotted text is not", arguments: [
        ("see https://example.org/x", true), ("ftp://files", true), ("www.example.org", true), ("go to WWW.EXAMPLE.ORG", true),
        ("mail mailto:a@b.c", true), ("example.com", true), ("visit shop.example.io today", true), ("site.fr/page", true),
        ("see file.txt", false), ("version 1.2", false), ("Awww. so cute", false), ("e.g. this", false), ("end.Start", false),
        ("3.14", false), ("no links", false),
    ])
    func links(_ text: String, _ rejected: Bool) {
        let policy = ContentPolicy(links: .deny)
        do {
            try policy.check(text)
            #expect(!rejected, "\(text) passed")
        } catch {
            #expect(rejected, "\(text) was refused")
        }
        #expect((try? ContentPolicy(links: .allow).check(text)) != nil, "links allowed: \(text) passes")
    }

    @Test("a banned-words file: one per line, blanks and # comments skipped")
    func wordsFile() {
        #expect(ContentPolicy.words(fromFile: "spam\n\n# a comment\n  Scam  \r\nfraud") == ["spam", "Scam", "fraud"])
    }
}
