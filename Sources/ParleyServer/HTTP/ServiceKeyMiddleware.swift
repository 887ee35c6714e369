import Crypto
import Hummingbird
import ParleyCore

/// Requires `Authorization: Bearer <service key>` on `/v1/service/…`.
///
/// The key is compared as SHA-256 digests, byte by byte to the end, so the
/// time taken says nothing of how much of a guess was right (nor of the
/// key's length). The key is never logged: nothing here writes it, and the
/// header is not part of any log line.
struct ServiceKeyMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    private let digest: [UInt8]

    init(key: String) {
        digest = Array(SHA256.hash(data: Array(key.utf8)))
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let presented = bearerToken(request.headers[.authorization]), matches(presented) else {
            throw ChatError(.unauthorized, "the service key is missing or wrong")
        }
        return try await next(request, context)
    }

    func matches(_ presented: String) -> Bool {
        let other = Array(SHA256.hash(data: Array(presented.utf8)))
        var difference: UInt8 = 0
        for index in digest.indices { difference |= digest[index] ^ other[index] }
        return difference == 0
    }
}
