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
        let arrived = await withCheckedContinuation { (continuation: CheckedContinuation<Result<ByteBuffer, any Error>?, Never>) in
            let answered = Mutex(false)
            let answer = { @Sendable (result: Result<ByteBuffer, any Error>?) in
                if answered.withLock({ done in defer { done = true }; return !done }) { continuation.resume(returning: result) }
            }
            let reading = Task {
                do { answer(.success(try await body.collect(upTo: limit))) } catch { answer(.failure(error)) }
            }
            channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                answer(nil)
                reading.cancel()
            }
        }
        guard let arrived else {
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
