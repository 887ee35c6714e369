import Foundation
import Hummingbird
import Logging
import NIOCore
import ParleyCore

/// Gives every failure the contract's shape:
/// `{"error":{"code":"...","message":"..."}}` with a matching status.
/// Added first, so it also covers unknown routes and body limits.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let chatError = ChatError.from(error, logger: context.logger)
            return errorResponse(chatError)
        }
    }
}

func errorResponse(_ error: ChatError) -> Response {
    var headers = HTTPFields()
    if let retry = error.retryAfterMs {
        headers[.retryAfter] = String((retry + 999) / 1000)
    }
    return jsonResponse(error.httpStatus, headers: headers) { w in
        w.key("error")
        w.beginObject()
        w.error(error)
        w.endObject()
    }
}

extension ChatError {
    var httpStatus: HTTPResponse.Status {
        switch code {
        case .invalidRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden, .blocked: .forbidden
        case .contentRejected: .unprocessableContent
        case .notFound: .notFound
        case .conflict: .conflict
        case .rateLimited: .tooManyRequests
        case .tooLarge: .contentTooLarge
        case .unavailable: .serviceUnavailable
        case .requestTimeout: .requestTimeout
        case .internalError: .internalServerError
        }
    }

    /// Maps any error to what a client may be told; unexpected ones are logged
    /// and reported without details.
    static func from(_ error: any Error, logger: Logger) -> ChatError {
        switch error {
        case let error as ChatError:
            return error
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound("no such route")
            case .contentTooLarge: return .tooLarge("the request body is too large")
            case .badRequest: return .invalidRequest(error.body ?? "bad request")
            default:
                return ChatError(error.status.code >= 500 ? .internalError : .invalidRequest, error.body ?? error.status.reasonPhrase)
            }
        case is NIOTooManyBytesError:
            return .tooLarge("the request body is larger than the server accepts")
        case is DecodingError:
            return .invalidRequest(describe(error))
        default:
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return ChatError(.internalError, "something went wrong on the server")
        }
    }
}

func jsonResponse(_ status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], _ body: (inout JSONWriter) -> Void) -> Response {
    let buffer = ServerFrame.object(body)
    var headers = headers
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
}

extension Request {
    /// Decodes a JSON body, answering 400 with the offending field named.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: ParleyRequestContext) async throws -> T {
        let body = try await self.body.collect(upTo: context.maxUploadSize)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: body))
        } catch {
            throw ChatError.invalidRequest(body.readableBytes == 0 ? "a JSON body is required" : describe(error))
        }
    }

    /// An optional integer query parameter; present but not an integer is an error.
    func queryInt<T: FixedWidthInteger>(_ name: String, as type: T.Type = Int.self) throws(ChatError) -> T? {
        guard let raw = uri.queryParameters.get(name) else { return nil }
        guard let value = T(raw) else { throw .invalidRequest("\(name) must be an integer") }
        return value
    }
}
