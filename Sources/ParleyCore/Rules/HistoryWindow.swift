/// Which slice of a conversation's history a client asks for.
public enum HistoryWindow: Sendable, Equatable {
    /// Messages with seq > n, oldest first: catching up after a reconnect.
    case after(Int64)
    /// The messages just before seq n: scrolling back.
    case before(Int64)
    /// Messages with ts >= t, oldest first.
    case since(Millis)
    /// The newest messages: opening a conversation.
    case latest
}
