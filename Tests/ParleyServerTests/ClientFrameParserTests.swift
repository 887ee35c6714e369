import Foundation
import Testing

@testable import ParleyServer

/// The fast frame parser must read every frame it accepts exactly as
/// JSONDecoder does, and pass on everything else (which then gets the
/// decoder's frame or its error message).
@Suite("Client frame parser")
struct ClientFrameParserTests {
    func foundation(_ text: String) -> ClientFrame? {
        try? JSONDecoder().decode(ClientFrame.self, from: Data(text.utf8))
    }

    static let accepted: [String] = [
        #"{"type":"send","id":"1","conversation_id":"c_9","text":"hello","client_id":"k1"}"#,
        #"{"type":"auth","token":"eyJ.abc.def"}"#,
        #"{ "type" : "history" , "id" : "h" , "conversation_id" : "c" , "before" : 41 , "limit" : 50 }"#,
        "{\n\t\"type\": \"read\",\r\n \"conversation_id\": \"c\", \"seq\": 9223372036854775807}\n",
        #"{"type":"history","conversation_id":"c","after":-9223372036854775808,"since_ts":0}"#,
        #"{"type":"presence","id":"p","user_ids":[]}"#,
        #"{"type":"presence","id":"p","user_ids":["u_1", "u_2" ,"u_3"]}"#,
        #"{"type":"presence","user_ids":null,"id":null,"seq":null}"#,
        #"{"type":"ping"}"#,
        #"{"type":"send","text":"quote \" backslash \\ slash \/ nl \n tab \t cr \r bs \b ff \f"}"#,
        #"{"type":"send","text":"\u00e9\u4e2d\ud83d\ude00 and \u0000 and \u001f"}"#,
        "{\"type\":\"send\",\"text\":\"raw UTF-8: é 中 😀 ‮\"}",
        #"{"type":"send","text":""}"#,
        #"{"type":"typing","conversation_id":"c"}"#,
        #"{"type":"x","limit":0}"#,
    ]

    static let passedOn: [String] = [
        "",
        " {\"type\":\"ping\"}",
        "[]",
        #"{}"#,
        #"{"type":null}"#,
        #"{"type":1}"#,
        #"{"id":"no type"}"#,
        #"{"type":"send","extra":"unknown keys go to the decoder"}"#,
        #"{"type":"send","type":"twice"}"#,
        #"{"type":"history","limit":1.5}"#,
        #"{"type":"history","limit":1e3}"#,
        #"{"type":"history","limit":01}"#,
        #"{"type":"history","limit":-}"#,
        #"{"type":"history","limit":9223372036854775808}"#,
        #"{"type":"history","seq":"5"}"#,
        #"{"type":"send","text":5}"#,
        #"{"type":"send","text":{"nested":true}}"#,
        #"{"type":"send","text":true}"#,
        #"{"type":"presence","user_ids":"u_1"}"#,
        #"{"type":"presence","user_ids":["u_1",2]}"#,
        #"{"type":"presence","user_ids":["u_1",]}"#,
        #"{"type":"ping"} trailing"#,
        #"{"type":"ping",}"#,
        #"{"type":"ping""#,
        #"{"type":"send","text":"unterminated}"#,
        "{\"type\":\"send\",\"text\":\"raw\ncontrol\"}",
        #"{"type":"send","text":"bad \x escape"}"#,
        #"{"type":"send","text":"lone \ud83d surrogate"}"#,
        #"{"type":"send","text":"lone \ude00 low"}"#,
        #"{"type":"send","text":"short \u12"}"#,
        #"{"type":"send","id":nul}"#,
    ]

    @Test("frames it accepts come out exactly as JSONDecoder reads them", arguments: accepted)
    func agreesWithFoundation(_ text: String) throws {
        let parsed = try #require(ClientFrameParser.parse(text), "should be accepted")
        #expect(parsed == foundation(text))
    }

    @Test("everything unusual or wrong is passed on to the decoder", arguments: passedOn)
    func passesOn(_ text: String) {
        #expect(ClientFrameParser.parse(text) == nil)
    }

    @Test("decode gives the decoder's errors for what the parser passes on, and checks id length either way")
    func decodeErrors() {
        guard case .failure(let failure) = ClientFrame.decode(#"{"type":"history","id":"h1","seq":"5"}"#) else {
            Issue.record("a string seq is an error")
            return
        }
        #expect(failure.re == "h1")
        #expect(failure.error.message == "seq must be an integer")
        let long = String(repeating: "i", count: ClientFrame.maxIDLength + 1)
        guard case .failure(let tooLong) = ClientFrame.decode(#"{"type":"ping","id":"\#(long)"}"#) else {
            Issue.record("a long id is an error")
            return
        }
        #expect(tooLong.re == nil)
    }

    @Test("random frames: whatever the parser accepts, JSONDecoder reads the same")
    func randomFrames() {
        var generator = SystemRandomNumberGenerator()
        let keys = ["type", "id", "token", "conversation_id", "text", "client_id", "seq", "after", "before", "since_ts", "limit", "user_ids", "other"]
        let values = [
            #""send""#, #""a\"b""#, #""\u00e9""#, #""😀""#, "0", "-1", "42", "1.0", "null", "true", #"["x","y"]"#, "[]", "{}",
            #""\ud83d\ude00""#, "9223372036854775807", "-0", "007",
        ]
        var accepted = 0
        for _ in 0..<3_000 {
            var fields = [#""type":"send""#]
            for _ in 0..<Int.random(in: 0...5, using: &generator) {
                fields.append("\"\(keys.randomElement(using: &generator)!)\":\(values.randomElement(using: &generator)!)")
            }
            fields.shuffle(using: &generator)
            let text = "{" + fields.joined(separator: Bool.random(using: &generator) ? "," : " , ") + "}"
            if let parsed = ClientFrameParser.parse(text) {
                accepted += 1
                #expect(parsed == foundation(text), "\(text)")
            }
        }
        #expect(accepted > 100, "the generator should produce some well-formed frames")
    }
}
