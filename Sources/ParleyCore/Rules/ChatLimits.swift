/// Bounds on what one client can make the server store or return.
public struct ChatLimits: Sendable, Equatable {
    public var maxMessageChars = 4000
    public var maxClientIDChars = 64
    public var maxGroupMembers = 1000
    public var maxTitleChars = 100
    public var maxDisplayNameChars = 64
    /// Of an erased account's messages, how many (the newest) are pushed
    /// to open sessions as deleted; the rest show as deleted when read.
    public var erasedShownLive = 1000
    public var historyPageMax = 200
    public var historyPageDefault = 50
    public var conversationPageMax = 100
    public var conversationPageDefault = 30
    public var searchResultsMax = 20
    public var searchQueryMaxChars = 64
    /// User ids one `presence` request may ask about.
    public var presenceQueryMax = 100
    /// Users one user may block.
    public var maxBlocks = 1000
    /// At most one `typing` per user per conversation is relayed in this time.
    public var typingInterval: Duration = .seconds(2)
    /// Whether conversations from strangers arrive as chat requests
    /// (`ChatRequestPolicy`); off keeps v1 behaviour.
    public var chatRequests = false

    public init() {}
}
