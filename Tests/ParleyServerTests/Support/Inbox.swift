import Synchronization

/// A queue that one test task reads with a deadline, fed from another task.
final class Inbox<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiter: (token: Int, continuation: CheckedContinuation<Element?, Never>)?
        var lastToken = 0
        var expiredToken = 0
    }

    private let state = Mutex(State())

    func push(_ element: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.items.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// The next element, or nil if none arrives within `timeout`.
    func next(timeout: Duration) async -> Element? {
        let token = state.withLock { state in
            state.lastToken += 1
            return state.lastToken
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.expire(token)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Element?? in
                if !state.items.isEmpty { return .some(state.items.removeFirst()) }
                if state.expiredToken >= token { return .some(nil) }
                state.waiter = (token, continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func expire(_ token: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            state.expiredToken = max(state.expiredToken, token)
            guard let waiter = state.waiter, waiter.token == token else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: nil)
    }
}
