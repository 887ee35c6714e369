import Foundation
import ParleyCore

/// One client → server WebSocket frame as JSON has it. Every field but
/// `type` is optional here; `ClientRequest` checks the ones each frame type
/// needs, so that a missing field is answered with a message naming it.
struct ClientFrame: Decodable, Equatable, Sendable {
    let type: String
    let id: String?
    let token: String?
    let conversationID: String?
    let text: String?
    let clientID: String?
    let seq: Int64?
    let after: Int64?
    let before: Int64?
    let sinceTS: Int64?
    let limit: Int?
    let userIDs: [String]?

    enum CodingKeys: String, CodingKey {
        case type, id, token, text, seq, after, before, limit
        case conversationID = "conversation_id"
        case clientID = "client_id"
        case sinceTS = "since_ts"
        case userIDs = "user_ids"
    }

    static let maxIDLength = 64

    /// Decodes a frame into the request it makes. On failure, the error
    /// carries the frame's `id` when that much could be read, so that even a
    /// bad frame gets an answer the client can match.
    static func decode(_ text: String) -> Result<ClientRequest, FrameError> {
        let frame: ClientFrame
        if let parsed = ClientFrameParser.parse(text) {
            frame = parsed
        } else {
            let data = Data(text.utf8)
            do {
                frame = try JSONDecoder().decode(ClientFrame.self, from: data)
            } catch {
                let re = (try? JSONDecoder().decode(Envelope.self, from: data))?.id.flatMap { $0.count <= maxIDLength ? $0 : nil }
                return .failure(FrameError(re: re, error: .invalidRequest(describe(error))))
            }
        }
        if let id = frame.id, id.count > maxIDLength {
            return .failure(FrameError(re: nil, error: .invalidRequest("id must be at most \(maxIDLength) characters")))
        }
        return .success(ClientRequest(frame))
    }

    /// Just the `id`, for answering frames that fail to decode as a whole.
    private struct Envelope: Decodable {
        let id: String?
    }
}

/// Turns a decoding failure into a sentence a client developer can act on.
func describe(_ error: any Error) -> String {
    func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.isEmpty ? "the body" : codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case DecodingError.keyNotFound(let key, let context):
        return "\(path(context.codingPath + [key])) is required"
    case DecodingError.typeMismatch(let type, let context):
        return "\(path(context.codingPath)) must be \(expected(type))"
    case DecodingError.valueNotFound(let type, let context):
        return "\(path(context.codingPath)) must be \(expected(type)), not null"
    case DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty:
        return "\(path(context.codingPath)) is not valid: \(context.debugDescription)"
    default:
        return "not valid JSON"
    }
}

private func expected(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Int.Type, is Int64.Type: "an integer"
    case is Bool.Type: "true or false"
    case is [String].Type, is [Any].Type: "an array"
    default: "an object"
    }
}
