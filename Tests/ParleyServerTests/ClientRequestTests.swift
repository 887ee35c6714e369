import ParleyCore
import Testing

@testable import ParleyServer

/// Client frames become typed requests in one place: each frame type with
/// the fields it requires, or what is wrong with it.
@Suite("Client requests")
struct ClientRequestTests {
    func request(_ text: String) -> ClientRequest? {
        try? ClientFrame.decode(text).get()
    }

    @Test("each frame type becomes its request, with its fields")
    func wellFormed() {
        #expect(request(#"{"type":"auth","token":"t"}"#) == ClientRequest(id: nil, action: .auth(token: "t")))
        let send = request(#"{"type":"send","id":"1","conversation_id":"c","text":"hi","client_id":"k"}"#)
        #expect(send?.id == "1")
        #expect(send?.action == .send(try! SendRequest(conversationID: "c", text: "hi", clientID: "k")))
        let history = request(#"{"type":"history","conversation_id":"c","before":9,"limit":5}"#)
        #expect(history?.action == .history(try! HistoryRequest(conversationID: "c", after: nil, before: 9, sinceTS: nil, limit: 5)))
        if case .history(let query)? = history?.action {
            #expect(query.window == .before(9) && query.limit == 5)
        }
        #expect(request(#"{"type":"read","conversation_id":"c","seq":3}"#)?.action == .read(conversationID: "c", seq: 3))
        #expect(request(#"{"type":"typing","conversation_id":"c"}"#)?.action == .typing(conversationID: "c"))
        #expect(request(#"{"type":"presence","user_ids":["a","b"]}"#)?.action == .presence(userIDs: ["a", "b"]))
        #expect(request(#"{"type":"ping","id":"p"}"#) == ClientRequest(id: "p", action: .ping))
        #expect(request(#"{"type":"shout","id":"x"}"#)?.action == .unknown(type: "shout"))
        #expect(request(#"{"type":"shout"}"#)?.kind == nil)
    }

    @Test("a missing required field is named, the first one missing in the contract's order; null counts as missing")
    func missingFields() {
        let cases: [(String, ClientRequest.Kind, String)] = [
            (#"{"type":"auth"}"#, .auth, "token is required"),
            (#"{"type":"auth","token":null}"#, .auth, "token is required"),
            (#"{"type":"send","text":"hi","client_id":"k"}"#, .send, "conversation_id is required"),
            (#"{"type":"send","conversation_id":"c","client_id":"k"}"#, .send, "text is required"),
            (#"{"type":"send","conversation_id":"c","text":"hi"}"#, .send, "client_id is required"),
            (#"{"type":"send"}"#, .send, "conversation_id is required"),
            (#"{"type":"history","after":1}"#, .history, "conversation_id is required"),
            (#"{"type":"history","conversation_id":"c","after":1,"before":3}"#, .history, "give at most one of after, before and since_ts"),
            (#"{"type":"read","seq":1}"#, .read, "conversation_id is required"),
            (#"{"type":"read","conversation_id":"c"}"#, .read, "seq is required"),
            (#"{"type":"typing"}"#, .typing, "conversation_id is required"),
            (#"{"type":"presence"}"#, .presence, "user_ids is required"),
        ]
        for (text, kind, message) in cases {
            let decoded = request(text)
            #expect(decoded?.action == .malformed(kind, .invalidRequest(message)), "\(text)")
            #expect(decoded?.kind == kind)
        }
    }

    @Test("a frame that is not a frame fails to decode, with its id when one can be read")
    func undecodable() {
        guard case .failure(let failure) = ClientFrame.decode(#"{"type":"read","id":"r1","seq":"5"}"#) else {
            Issue.record("a string seq decoded")
            return
        }
        #expect(failure.re == "r1")
        #expect(failure.error.code == .invalidRequest)
    }
}
