/// WebSocket close codes of docs/PROTOCOL.md.
enum CloseCode {
    static let normal: UInt16 = 1000
    static let goingAway: UInt16 = 1001
    static let protocolError: UInt16 = 1002
    static let invalidText: UInt16 = 1007
    static let policyViolation: UInt16 = 1008
    static let tooSlow: UInt16 = 1008
    static let messageTooBig: UInt16 = 1009
    static let serverError: UInt16 = 1011
    /// This node may have missed events: reconnect and catch up.
    static let serviceRestart: UInt16 = 1012
    /// The node is too busy to start a session now: the reason says when to try again.
    static let tryAgainLater: UInt16 = 1013
    static let protocolMisuse: UInt16 = 4400
    static let unauthenticated: UInt16 = 4401
    static let banned: UInt16 = 4403
    static let idle: UInt16 = 4408
    static let flooding: UInt16 = 4429
}
