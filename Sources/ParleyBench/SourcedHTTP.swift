// One HTTP/1.1 request on its own connection, from a chosen loopback source
// address (any 127.x.y.z reaches a server on 127.0.0.1): how one machine
// looks like many clients to the server's per-address limits.

import NIOCore
import NIOPosix

enum SourcedHTTP {
    struct Reply: Sendable {
        let status: Int
        let body: String
    }

    /// `POST path` with a JSON body from `source`; reads to the end of the connection.
    static func post(_ target: LoopbackTarget, path: String, json: String, from source: String, group: any EventLoopGroup) async throws -> Reply {
        let channel = try await ClientBootstrap(group: group)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let head = "POST \(path) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n"
            try await outbound.write(ByteBuffer(string: head + json))
            var received = ByteBuffer()
            for try await var chunk in inbound { received.writeBuffer(&chunk) }
            let text = String(buffer: received)
            let status = Int(text.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") ?? 0
            let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
            return Reply(status: status, body: body)
        }
    }
}
