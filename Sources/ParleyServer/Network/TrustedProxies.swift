import ParleyCore

/// The proxies (load balancers) whose word on the client's address is taken
/// (`--trusted-proxies`): only when the TCP peer is one of them is the
/// client read from `X-Forwarded-For`, the right-most address in it that is
/// not itself a trusted proxy (every proxy appends the address it saw, and
/// anything to the left of ours may be made up by the client). Every
/// per-address limit counts that address.
public struct TrustedProxies: Sendable {
    /// An address block, `192.0.2.0/24` or `2001:db8::/32`; a bare address is one host.
    struct Network: Sendable, Equatable {
        let address: IPAddress
        let prefixLength: Int

        init?(_ text: some StringProtocol) {
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = IPAddress(parts[0]) else { return nil }
            // Bits as written: `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
            let writtenBits = parts[0].contains(":") ? 128 : 32
            if parts.count == 2 {
                guard let length = Int(parts[1]), (0...writtenBits).contains(length) else { return nil }
                prefixLength = length - (writtenBits - address.bytes.count * 8)
                guard prefixLength >= 0 else { return nil }
            } else {
                prefixLength = address.bytes.count * 8
            }
            self.address = address
        }

        func contains(_ other: IPAddress) -> Bool {
            guard other.bytes.count == address.bytes.count else { return false }
            var remaining = prefixLength
            for (a, b) in zip(address.bytes, other.bytes) where remaining > 0 {
                let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
                guard a & mask == b & mask else { return false }
                remaining -= 8
            }
            return true
        }
    }

    let networks: [Network]

    public static let none = TrustedProxies(networks: [])

    init(networks: [Network]) {
        self.networks = networks
    }

    /// Parses `CIDR[,CIDR…]`; throws naming the first entry that is not one.
    public init(parsing list: String) throws(TrustedProxiesError) {
        var networks: [Network] = []
        for entry in list.split(separator: ",") {
            let trimmed = entry.trimmingWhitespace()
            guard !trimmed.isEmpty else { continue }
            guard let network = Network(trimmed) else { throw TrustedProxiesError(entry: String(trimmed)) }
            networks.append(network)
        }
        self.networks = networks
    }

    func trusts(_ address: IPAddress) -> Bool {
        networks.contains { $0.contains(address) }
    }

    /// The client's address, from the TCP peer's and the `X-Forwarded-For`
    /// values (each a comma-separated list; several headers in order).
    func clientAddress(peer: String?, forwardedFor: [String]) -> String? {
        guard let peer, let peerAddress = IPAddress(peer), trusts(peerAddress), !forwardedFor.isEmpty else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingWhitespace() }
        var client = peerAddress
        for hop in hops.reversed() {
            // A malformed hop ends the chain: what is left of it cannot be trusted.
            guard let address = IPAddress(hop) else { break }
            client = address
            if !trusts(address) { break }
        }
        return client.description
    }
}

public struct TrustedProxiesError: Error, CustomStringConvertible {
    let entry: String
    public var description: String { "'\(entry)' is not an address or an address block (CIDR) such as 10.0.0.0/8 or fd00::/8" }
}
