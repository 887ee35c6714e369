import Hummingbird
import NIOCore
import ParleyCore
import Synchronization

/// A request body has `timeout` to arrive whole (it is at most
/// `maxBodyBytes`, so it is read here, before any handler). One that takes
/// longer, a byte every few seconds say, is answered 408 and its connection
/// closed: otherwise it would hold the connection, and the server would
/// wait for the rest of it before the next request.
struct BodyDeadlineMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let timeout: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.hasBody(request) else { return try await next(request, context) }
        let body = request.body, limit = context.maxUploadSize, channel = context.channel
        let timedOut = Atomic(false)
        let reading = Task { try await body.collect(upTo: limit) }
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            timedOut.store(true, ordering: .sequentiallyConsistent)
            reading.cancel()
        }
        // Wait for the reading to end even past the deadline: the body is read
        // from the connection's own stream, which Hummingbird reads again
        // once the answer is out, and two readers at once is a crash in NIO.
        let arrived = await reading.result
        deadline.cancel()
        if case .failure = arrived, timedOut.load(ordering: .sequentiallyConsistent) {
            // The rest of the body will not be read: end the connection once
            // the answer is out (the server reads no further request).
            channel.close(mode: .input, promise: nil)
            throw ChatError(.requestTimeout, "the request body did not arrive within \(timeout.components.seconds) seconds")
        }
        var request = request
        request.body = RequestBody(buffer: try arrived.get())
        return try await next(request, context)
    }

    static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength] { return length != "0" }
        return request.headers[.transferEncoding] != nil
    }
}
