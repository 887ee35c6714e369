import Foundation
import ParleyCore
import ParleyStore
import Testing

// MARK: - Making accounts, conversations and messages

extension ChatStore {
    /// Creates an account the way the server does: the handle key is the
    /// case-folded handle.
    func makeAccount(_ handle: String, displayName: String? = nil, passwordHash: String = "hash") async throws -> Account {
        try await createAccount(NewAccount(
            handle: handle,
            handleKey: try Validation.handleKey(handle),
            displayName: displayName ?? handle,
            passwordHash: passwordHash))
    }

    func makeAccounts(_ handles: String...) async throws -> [Account] {
        var accounts: [Account] = []
        for handle in handles { accounts.append(try await makeAccount(handle)) }
        return accounts
    }

    @discardableResult
    func makeGroup(_ owner: Account, _ others: [Account], title: String = "group") async throws -> Conversation {
        try await createGroup(owner: owner, title: title, memberIDs: others.map(\.user.id))
    }

    /// `append`, waiting for its completion, but giving up with
    /// `CancellationError` if the test is cancelled (by its time limit): a
    /// store that loses a completion makes the test fail instead of hang.
    @discardableResult
    func send(_ text: String, to conversationID: String, from sender: Account, clientID: String? = nil) async throws -> AppendOutcome {
        let request = AppendRequest(
            conversationID: conversationID, sender: sender, text: text, clientID: clientID ?? UUID().uuidString)
        let once = ResumeOnce<AppendOutcome>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                once.install(continuation)
                append(request) { once.resume(with: $0) }
            }
        } onCancel: {
            once.resume(with: .failure(CancellationError()))
        }
    }

    /// Every message of the conversation, oldest first, read in pages of
    /// `pageSize` with `after` windows (at most 100 pages, so that a broken
    /// `hasMore` cannot loop forever).
    func allMessages(
        of conversationID: String, viewer: UserKey, pageSize: Int = 500, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [Message] {
        var messages: [Message] = []
        var after: Int64 = 0
        for _ in 0..<100 {
            let page = try await history(conversationID: conversationID, viewer: viewer, window: .after(after), limit: pageSize)
            messages += page.messages
            guard page.hasMore, let last = page.messages.last else { return messages }
            after = last.seq
        }
        Issue.record("history still has more after 100 pages", sourceLocation: sourceLocation)
        return messages
    }
}

// MARK: - Expecting errors

/// Expects `body` to throw exactly `ChatError.conversationNotFound`: the one
/// answer for a conversation that does not exist and one the actor is not in.
func expectConversationNotFound(
    _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    await expectChatError(.notFound, exactly: .conversationNotFound, comment, sourceLocation: sourceLocation, body)
}

/// Expects `body` to throw a `ChatError` with `code` (and, if given, equal to
/// `exactly`).
func expectChatError(
    _ code: ChatError.Code,
    exactly expected: ChatError? = nil,
    _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected ChatError \(code.rawValue), but nothing was thrown. \(comment.map { "\($0)" } ?? "")", sourceLocation: sourceLocation)
    } catch let error as ChatError {
        #expect(error.code == code, comment, sourceLocation: sourceLocation)
        if let expected {
            #expect(error == expected, comment, sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected ChatError \(code.rawValue), got \(error). \(comment.map { "\($0)" } ?? "")", sourceLocation: sourceLocation)
    }
}

/// The `ChatError` of a failed result, or nil (recording an issue) if it
/// succeeded or failed otherwise.
func chatError(_ result: Result<AppendOutcome, any Error>?, sourceLocation: SourceLocation = #_sourceLocation) -> ChatError? {
    switch result {
    case .failure(let error as ChatError): return error
    case .failure(let error):
        Issue.record("expected a ChatError, got \(error)", sourceLocation: sourceLocation)
    case .success(let outcome):
        Issue.record("expected a refusal, got message seq \(outcome.message.seq)", sourceLocation: sourceLocation)
    case nil:
        Issue.record("the completion was never called", sourceLocation: sourceLocation)
    }
    return nil
}

/// Identifiers that name no conversation or user: well-formed but unknown,
/// and malformed.
enum UnknownIDs {
    static var wellFormed: String { OpaqueID.make() }
    static let malformed = ["", "not-an-id", "!!!!!!!!!!!!!!!!!!!!!!", String(repeating: "A", count: 23)]
}

extension Array where Element == Member {
    var keys: [UserKey] { map(\.account.key) }
}

// MARK: - Waiting for completions

/// A continuation that is resumed exactly once, by whichever comes first: the
/// result, or a cancellation. Either may arrive before the continuation is
/// installed.
final class ResumeOnce<Value: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Value, any Error>?
        var result: Result<Value, any Error>?
        var resumed = false
    }

    private let state = Locked(State())

    func install(_ continuation: CheckedContinuation<Value, any Error>) {
        let ready: Result<Value, any Error>? = state.withLock { state in
            guard let result = state.result, !state.resumed else {
                state.continuation = continuation
                return nil
            }
            state.resumed = true
            return result
        }
        if let ready { continuation.resume(with: ready) }
    }

    func resume(with result: Result<Value, any Error>) {
        let continuation: CheckedContinuation<Value, any Error>? = state.withLock { state in
            guard !state.resumed, state.result == nil else { return nil }
            state.result = result
            guard let continuation = state.continuation else { return nil }
            state.resumed = true
            return continuation
        }
        continuation?.resume(with: result)
    }
}

/// Runs `operation` in a task of its own and waits for it, but stops waiting
/// (throwing `CancellationError`) as soon as the calling task is cancelled.
/// For concurrent calls whose loss in a broken write queue would otherwise
/// hang the test past its time limit.
func cancellable<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = ResumeOnce<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            once.install(continuation)
            Task {
                do {
                    once.resume(with: .success(try await operation()))
                } catch {
                    once.resume(with: .failure(error))
                }
            }
        }
    } onCancel: {
        once.resume(with: .failure(CancellationError()))
    }
}

/// `append` through the completion-handler API, for tests that submit many
/// writes without waiting for each: results are kept in the order their
/// completions were called.
final class CompletionRecorder: Sendable {
    struct Entry: Sendable {
        let tag: Int
        let result: Result<AppendOutcome, any Error>
    }

    private struct State {
        var entries: [Entry] = []
        var waiters: [(count: Int, once: ResumeOnce<Void>)] = []
    }

    private let state = Locked(State())

    /// Submits the append; its completion is recorded under `tag`.
    func submit(_ store: any ChatStore, _ request: AppendRequest, tag: Int) {
        store.append(request) { result in
            let ready = self.state.withLock { state in
                state.entries.append(Entry(tag: tag, result: result))
                let count = state.entries.count
                let ready = state.waiters.filter { $0.count <= count }
                state.waiters.removeAll { $0.count <= count }
                return ready
            }
            ready.forEach { $0.once.resume(with: .success(())) }
        }
    }

    /// Every completion called so far, in the order they were called.
    var entries: [Entry] { state.value.entries }

    func result(tag: Int) -> Result<AppendOutcome, any Error>? {
        entries.first { $0.tag == tag }?.result
    }

    func outcome(tag: Int, sourceLocation: SourceLocation = #_sourceLocation) -> AppendOutcome? {
        switch result(tag: tag) {
        case .success(let outcome): return outcome
        case .failure(let error):
            Issue.record("append \(tag) failed: \(error)", sourceLocation: sourceLocation)
        case nil:
            Issue.record("the completion of append \(tag) was never called", sourceLocation: sourceLocation)
        }
        return nil
    }

    /// Returns once `count` completions have been called. No timer: if they
    /// never come, the test's time limit cancels the wait, which then throws.
    func waitForCompletions(_ count: Int) async throws {
        let once = ResumeOnce<Void>()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                once.install(continuation)
                let done = state.withLock { state in
                    if state.entries.count >= count { return true }
                    state.waiters.append((count, once))
                    return false
                }
                if done { once.resume(with: .success(())) }
            }
        } onCancel: {
            once.resume(with: .failure(CancellationError()))
        }
    }
}
