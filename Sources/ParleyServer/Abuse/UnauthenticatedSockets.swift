import Synchronization

/// Sockets per client address that have not signed in yet
/// (`--max-unauthenticated`): an open socket costs memory and a timer, and
/// before sign-in nobody answers for it. Past the limit the upgrade is
/// refused (429); a slot frees when its socket gets `ready` or closes.
final class UnauthenticatedSockets: Sendable {
    /// One socket's place in its address's count; freed once.
    final class Slot: Sendable {
        private let owner: UnauthenticatedSockets
        private let address: String
        private let held = Atomic(true)

        fileprivate init(owner: UnauthenticatedSockets, address: String) {
            self.owner = owner
            self.address = address
        }

        func release() {
            guard held.exchange(false, ordering: .acquiringAndReleasing) else { return }
            owner.free(address)
        }
    }

    /// 0 turns the limit off.
    let limit: Int
    private let counts = Mutex<[String: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    enum Admission: Sendable {
        /// In, holding `slot` (nil when nothing is counted: the limit is off).
        case admitted(Slot?)
        /// The address has `limit` sockets waiting to sign in already.
        case refused
    }

    func admit(_ address: String?) -> Admission {
        guard limit > 0, let address else { return .admitted(nil) }
        let admitted = counts.withLock { counts in
            guard counts[address, default: 0] < limit else { return false }
            counts[address, default: 0] += 1
            return true
        }
        return admitted ? .admitted(Slot(owner: self, address: address)) : .refused
    }

    func count(of address: String) -> Int {
        counts.withLock { $0[address] ?? 0 }
    }

    private func free(_ address: String) {
        counts.withLock { counts in
            let left = counts[address, default: 1] - 1
            counts[address] = left > 0 ? left : nil
        }
    }
}
