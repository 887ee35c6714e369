import NIOCore
import ParleyCore
import ParleyStore
import Synchronization

/// One authenticated WebSocket connection, as the hub sees it.
final class ClientSession: Sendable {
    let id: String
    /// As the account is now: the product may rename the user while the
    /// session is open (`accountChanged`). Its key never changes.
    var account: Account {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    private let current: Mutex<Account>
    let tokenID: String
    let outbox: Outbox
    private let onDrain: @Sendable () -> Void

    init(id: String, account: Account, tokenID: String, outbox: Outbox, onDrain: @escaping @Sendable () -> Void = {}) {
        self.id = id
        self.current = Mutex(account)
        self.tokenID = tokenID
        self.outbox = outbox
        self.onDrain = onDrain
    }

    /// The server is going away: finish what is in flight, then close.
    func drain() { onDrain() }
}
