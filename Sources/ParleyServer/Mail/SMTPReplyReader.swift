import NIOConcurrencyHelpers
import NIOCore

/// Turns an SMTP server's lines into replies ("250-…" lines up to a
/// "250 …" one), handed to the conversation one by one.
final class SMTPReplyReader: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    struct Reply: Sendable {
        let code: Int
        let lines: [String]
    }

    private struct State {
        var partial: [String] = []
        var ready: [Reply] = []
        var waiting: CheckedContinuation<Reply, any Error>?
        var failure: (any Error)?
    }

    private let state = NIOLockedValueBox(State())

    struct Closed: Error, CustomStringConvertible {
        var description: String { "the SMTP server closed the connection" }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard var line = buffer.readString(length: buffer.readableBytes) else { return }
        if line.hasSuffix("\r") { line.removeLast() }
        let code = Int(line.prefix(3)) ?? 0
        let text = String(line.dropFirst(4))
        let last = line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-"
        state.withLockedValue { state in
            state.partial.append(text)
            guard last else { return }
            let reply = Reply(code: code, lines: state.partial)
            state.partial = []
            if let waiting = state.waiting {
                state.waiting = nil
                waiting.resume(returning: reply)
            } else {
                state.ready.append(reply)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(Closed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    private func fail(_ error: any Error) {
        state.withLockedValue { state in
            state.failure = state.failure ?? error
            state.waiting?.resume(throwing: error)
            state.waiting = nil
        }
    }

    func next() async throws -> Reply {
        try await withCheckedThrowingContinuation { continuation in
            state.withLockedValue { state in
                if !state.ready.isEmpty {
                    continuation.resume(returning: state.ready.removeFirst())
                } else if let failure = state.failure {
                    continuation.resume(throwing: failure)
                } else {
                    state.waiting = continuation
                }
            }
        }
    }
}
