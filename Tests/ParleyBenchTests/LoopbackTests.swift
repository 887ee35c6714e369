import Testing

@testable import ParleyBench

@Suite("Loopback-only targets")
struct LoopbackTests {
    @Test("loopback hosts are accepted with their port")
    func accepted() throws {
        #expect(try Loopback.parse("http://127.0.0.1:8080") == LoopbackTarget(host: "127.0.0.1", port: 8080))
        #expect(try Loopback.parse("http://127.255.3.4:1/") == LoopbackTarget(host: "127.255.3.4", port: 1))
        #expect(try Loopback.parse("http://localhost:9000") == LoopbackTarget(host: "localhost", port: 9000))
        #expect(try Loopback.parse("http://LOCALHOST") == LoopbackTarget(host: "LOCALHOST", port: 80))
        #expect(try Loopback.parse("http://[::1]:8080") == LoopbackTarget(host: "::1", port: 8080))
        #expect(try Loopback.parse("http://[0:0:0:0:0:0:0:1]:8080").port == 8080)
    }

    @Test("anything else is refused", arguments: [
        "http://10.0.0.1:8080", "http://128.0.0.1:80", "http://0.0.0.0:8080", "http://example.com",
        "http://127.0.0.1.example.com:80", "http://localhost.evil.com", "http://[::2]:80", "http://[::]:80",
        "http://[::ffff:10.0.0.1]:80", "http://1.127.0.0.1", "http://[1::1]:80",
    ])
    func refused(url: String) {
        #expect(throws: LoopbackError.self) { try Loopback.parse(url) }
    }

    @Test("malformed URLs are refused before any host check", arguments: [
        "127.0.0.1:8080", "https://127.0.0.1", "http://127.0.0.1:0", "http://127.0.0.1:70000",
        "http://user@127.0.0.1", "http://127.0.0.1/v1", "http://", "http://127.0.0.1:abc", "http://127.0.0.256",
    ])
    func malformed(url: String) {
        #expect(throws: LoopbackError.self) { try Loopback.parse(url) }
    }

    @Test("localhost connects over IPv4 so that 127.0.0.x sources can be bound; ::1 cannot")
    func connectHost() throws {
        #expect(try Loopback.parse("http://localhost:1").connectHost == "127.0.0.1")
        #expect(try Loopback.parse("http://localhost:1").isIPv4)
        #expect(try !Loopback.parse("http://[::1]:1").isIPv4)
        #expect(try Loopback.parse("http://[::1]:8080").httpBase == "http://[::1]:8080")
    }
}

@Suite("Report keys for --json")
struct ReportKeyTests {
    @Test("labels become snake_case keys")
    func keys() {
        #expect(Report.key("send→delivery") == "send_to_delivery")
        #expect(Report.key("acks/s") == "acks_per_s")
        #expect(Report.key("server CPU per ack") == "server_cpu_per_ack")
        #expect(Report.key("duplicated (live twice)") == "duplicated_live_twice")
    }
}
