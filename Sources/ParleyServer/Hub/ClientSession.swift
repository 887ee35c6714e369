import NIOCore
import ParleyCore
import ParleyStore

/// One authenticated WebSocket connection, as the hub sees it.
final class ClientSession: Sendable {
    let id: String
    let account: Account
    let tokenID: String
    let outbox: Outbox
    private let onDrain: @Sendable () -> Void

    init(id: String, account: Account, tokenID: String, outbox: Outbox, onDrain: @escaping @Sendable () -> Void = {}) {
        self.id = id
        self.account = account
        self.tokenID = tokenID
        self.outbox = outbox
        self.onDrain = onDrain
    }

    /// The server is going away: finish what is in flight, then close.
    func drain() { onDrain() }
}
