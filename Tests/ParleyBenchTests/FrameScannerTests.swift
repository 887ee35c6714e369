import Testing

@testable import ParleyBench

@Suite("Reading the server's compact frames")
struct FrameScannerTests {
    func with<T>(_ s: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        Array(s.utf8).withUnsafeBytes(body)
    }

    @Test("frame types, including the ones that start alike")
    func types() {
        let cases: [(String, FrameType)] = [
            (#"{"type":"message","message":{}}"#, .message),
            (#"{"type":"ack","re":"1","conversation_id":"c","seq":1}"#, .ack),
            (#"{"type":"ready","session_id":"s","user":{}}"#, .ready),
            (#"{"type":"read_state","conversation_id":"c","read_seq":1}"#, .other),
            (#"{"type":"receipt","conversation_id":"c","user_id":"u","seq":4}"#, .other),
            (#"{"type":"history","re":"h","conversation_id":"c"}"#, .history),
            (#"{"type":"error","re":null,"code":"x"}"#, .error),
            (#"{"type":"notice","code":"draining"}"#, .notice),
            (#"{"type":"member","x":1}"#, .other),
            ("nonsense", .other),
        ]
        for (frame, type) in cases {
            #expect(with(frame) { FrameScanner.frameType($0) } == type, "\(frame)")
        }
    }

    @Test("a message event as the protocol shows it, with quotes and keys inside the text and the sender's names")
    func message() {
        let frame = #"{"type":"message","message":{"id":"3zyLUxqbXcZMf_SmYRI51g","conversation_id":"HRJCRHULSBGHBBPMvGwiqw","seq":5,"sender":{"id":"WuBy_4zeg_ZBr1ZKFi64-w","handle":"Bob","display_name":"Bob \"seq\":9"},"text":"t=123456 \"seq\":7","ts":1795445541870}}"#
        let m = with(frame) { b -> (String, Int, UInt64?)? in
            guard let m = ScannedMessage.scan(b) else { return nil }
            return (String(decoding: UnsafeRawBufferPointer(rebasing: b[m.conversationID]), as: UTF8.self), m.seq, m.stamp)
        }
        #expect(m?.0 == "HRJCRHULSBGHBBPMvGwiqw")
        #expect(m?.1 == 5)
        #expect(m?.2 == 123_456)
        let foreign = #"{"type":"message","message":{"id":"a","conversation_id":"c","seq":1,"sender":{"id":"u","handle":"h","display_name":"h"},"text":"Hello, Bob!","ts":1}}"#
        #expect(with(foreign) { ScannedMessage.scan($0)?.stamp } == nil)
        #expect(with(foreign) { ScannedMessage.scan($0)?.seq } == 1)
    }

    @Test("an ack, first and duplicate")
    func ack() {
        let first = #"{"type":"ack","re":"987654321","conversation_id":"HRJCRHULSBGHBBPMvGwiqw","seq":4,"message_id":"T4JIAD8vcFefxv9ANP9WqA","ts":1795445540803,"duplicate":false}"#
        let dup = #"{"type":"ack","re":"s2","conversation_id":"HRJCRHULSBGHBBPMvGwiqw","seq":4,"message_id":"T4JIAD8vcFefxv9ANP9WqA","ts":1795445540803,"duplicate":true}"#
        let a = with(first) { ScannedAck.scan($0) }
        #expect(a?.stamp == 987_654_321 && a?.seq == 4 && a?.duplicate == false)
        let d = with(dup) { ScannedAck.scan($0) }
        #expect(d?.stamp == nil && d?.seq == 4 && d?.duplicate == true)
    }

    @Test("an error's code and re")
    func error() {
        let frame = #"{"type":"error","re":"123","code":"rate_limited","message":"you are sending too fast","retry_after_ms":640}"#
        let code = with(frame) { b in FrameScanner.stringValue("code", in: b).map { String(decoding: UnsafeRawBufferPointer(rebasing: b[$0]), as: UTF8.self) } }
        #expect(code == "rate_limited")
        #expect(with(frame) { FrameScanner.intValue("retry_after_ms", in: $0) } == 640)
        #expect(with(frame) { FrameScanner.intValue("missing", in: $0) } == nil)
    }
}
