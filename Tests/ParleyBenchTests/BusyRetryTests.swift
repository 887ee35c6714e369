import Testing

@testable import ParleyBench

@Suite("Honouring 1013 'server busy: retry in <ms> ms'")
struct BusyRetryTests {
    @Test("the wait is read from the close reason")
    func reason() {
        #expect(Connector.retryMilliseconds("server busy: retry in 1234 ms") == 1234)
        #expect(Connector.retryMilliseconds("server busy: retry in 5000 ms") == 5000)
        #expect(Connector.retryMilliseconds("server busy") == nil)
        #expect(Connector.retryMilliseconds("") == nil)
    }

    @Test("failures are counted by kind")
    func kinds() {
        #expect(Connector.failureKind(SessionError.timeout) == "no ready in time")
        #expect(Connector.failureKind(SessionError.closedBeforeReady(code: 1011, reason: "")) == "closed before ready (1011)")
        #expect(Connector.failureKind(SessionError.closedBeforeReady(code: nil, reason: "")) == "closed before ready (no close frame)")
        #expect(Connector.failureKind(SessionError.upgradeRefused) == "upgrade refused")
    }
}
