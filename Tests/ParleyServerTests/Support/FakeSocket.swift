import NIOCore
import Synchronization

@testable import ParleyServer

/// Stands in for a session's socket and its `SocketWriter`: writes out its outbox
/// as soon as woken, as the event loop would, taking frames while it has
/// `room`, and records their payloads and the close handed over after them.
final class FakeSocket: Sendable {
    /// How many more frames the socket takes.
    let room: Atomic<Int>
    private let state = Mutex<(outbox: Outbox?, written: [ByteBuffer], wakes: Int, closes: [Outbox.Close])>((nil, [], 0, []))

    init(limit: Int = 1 << 20, room: Int = .max) {
        self.room = Atomic(room)
        let outbox = Outbox(limit: limit) { [weak self] in
            self?.state.withLock { $0.wakes += 1 }
            self?.writeOut()
        }
        state.withLock { $0.outbox = outbox }
    }

    var outbox: Outbox { state.withLock { $0.outbox! } }
    var written: [ByteBuffer] { state.withLock { $0.written } }
    var wakes: Int { state.withLock { $0.wakes } }
    /// The close frames the outbox asked for: at most one.
    var closes: [Outbox.Close] { state.withLock { $0.closes } }

    /// The socket takes any amount again: as its writability event does.
    func makeRoom() {
        room.store(.max, ordering: .relaxed)
        writeOut()
    }

    private func writeOut() {
        let done = outbox.writeOut(hasRoom: { room.load(ordering: .relaxed) > 0 }) { frame in
            room.subtract(1, ordering: .relaxed)
            state.withLock { $0.written.append(frame.payload) }
        }
        if let close = done.closeFrame { state.withLock { $0.closes.append(close) } }
    }
}
