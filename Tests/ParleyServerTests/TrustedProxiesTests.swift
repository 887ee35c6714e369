import Testing

@testable import ParleyServer

/// Who the client is behind load balancers: only a trusted peer's
/// `X-Forwarded-For` counts, read from the right.
@Suite("Trusted proxies")
struct TrustedProxiesTests {
    let proxies = try! TrustedProxies(parsing: "10.0.0.0/8, 192.0.2.7, fd00::/8")

    @Test("a peer that is not trusted is the client, whatever it forwards")
    func untrustedPeer() {
        #expect(proxies.clientAddress(peer: "203.0.113.9", forwardedFor: ["198.51.100.1"]) == "203.0.113.9")
        #expect(TrustedProxies.none.clientAddress(peer: "10.0.0.1", forwardedFor: ["198.51.100.1"]) == "10.0.0.1")
    }

    @Test("behind trusted proxies: the right-most address that is not one of them; what the client wrote to its left is ignored")
    func rightMost() {
        #expect(proxies.clientAddress(peer: "10.0.0.1", forwardedFor: ["198.51.100.1"]) == "198.51.100.1")
        #expect(proxies.clientAddress(peer: "10.0.0.1", forwardedFor: ["6.6.6.6, 198.51.100.1, 10.2.3.4"]) == "198.51.100.1")
        #expect(proxies.clientAddress(peer: "192.0.2.7", forwardedFor: ["6.6.6.6", "198.51.100.1"]) == "198.51.100.1", "several headers")
        #expect(proxies.clientAddress(peer: "10.0.0.1", forwardedFor: []) == "10.0.0.1", "no header: the proxy itself")
        #expect(proxies.clientAddress(peer: "10.0.0.1", forwardedFor: ["10.9.9.9, 10.8.8.8"]) == "10.9.9.9", "all proxies: the left-most")
        #expect(proxies.clientAddress(peer: "10.0.0.1", forwardedFor: ["198.51.100.1, garbage"]) == "10.0.0.1", "a bad hop ends the chain")
    }

    @Test("IPv6, and IPv4 written as IPv6, match the same blocks")
    func families() {
        #expect(proxies.clientAddress(peer: "fd12::1", forwardedFor: ["2001:db8::5"]) == "2001:db8::5")
        #expect(proxies.clientAddress(peer: "::ffff:10.1.2.3", forwardedFor: ["198.51.100.1"]) == "198.51.100.1")
        #expect(proxies.clientAddress(peer: "fe80::1", forwardedFor: ["198.51.100.1"]) == "fe80::1")
        let network = TrustedProxies.Network("192.168.0.0/17")!
        #expect(network.contains(IPAddress("192.168.127.255")!))
        #expect(!network.contains(IPAddress("192.168.128.0")!))
        #expect(TrustedProxies.Network("::ffff:10.0.0.0/104")!.contains(IPAddress("10.200.0.1")!))
    }

    @Test("anything but addresses and blocks is refused, naming the entry")
    func parsing() {
        for bad in ["10.0.0.0/33", "10.0.0/8", "example.com", "fd00::/129", "1.2.3.4/-1"] {
            #expect(throws: TrustedProxiesError.self, "\(bad)") { try TrustedProxies(parsing: "127.0.0.1, \(bad)") }
        }
        #expect(throws: Never.self) { try TrustedProxies(parsing: " 127.0.0.1/32 ,::1 ") }
    }
}
