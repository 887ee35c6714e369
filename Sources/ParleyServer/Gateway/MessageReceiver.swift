import NIOCore
import NIOWebSocket

/// What a `WebSocketReader` hands whole messages and the socket's life to:
/// `GatewayConnection` in the server. Called on the socket's event loop.
protocol MessageReceiver: AnyObject, Sendable {
    func received(_ text: String)
    func receivedBinary()
    /// Whether the reader should hold off reading the socket.
    var isBusy: Bool { get }
    /// The server is stopping.
    func serverStopping()
    /// The socket is closed.
    func ended()
}
