import ParleyCore
import Testing

@testable import ParleyServer

/// A connection's state machine on its own: no socket, no store, no clock
/// but the instants the tests pass.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    let start = ContinuousClock.now

    func machine(window: Int = 2, configure: (inout AbuseControls) -> Void = { _ in }) -> ConnectionStateMachine {
        var controls = AbuseControls()
        controls.requestRate = 0
        configure(&controls)
        return ConnectionStateMachine(maxSendsInFlight: window, conduct: ConnectionGuard(controls, now: start))
    }

    func session() -> ClientSession {
        let account = Account(key: UserKey(1), user: User(id: OpaqueID.make(), handle: "ann", displayName: "Ann"))
        return ClientSession(id: OpaqueID.make(), account: account, tokenID: "t", outbox: Outbox(limit: 1 << 20))
    }

    func decoded(_ text: String) -> ConnectionStateMachine.Decoded { ClientFrame.decode(text) }

    static let send = #"{"type":"send","id":"s","conversation_id":"c","text":"hi","client_id":"k"}"#
    static let history = #"{"type":"history","id":"h","conversation_id":"c"}"#

    @Test("before sign-in every request waits for the task, which signs in; after it, requests are screened")
    func signIn() {
        var state = machine()
        guard case .startWorking = state.received(decoded(#"{"type":"auth","token":"t"}"#), closing: false, now: start) else {
            Issue.record("sign-in must wait for the task")
            return
        }
        #expect(state.isWorking)
        guard case .job(.wait(.signIn(let request))) = state.nextJob() else {
            Issue.record("the task signs in first")
            return
        }
        #expect(request.action == .auth(token: "t"))
        let ann = session()
        let first = state.signedIn(ann), second = state.signedIn(session())
        #expect(first)
        #expect(!second, "signed in once")
        #expect(state.session === ann)
        guard case .idle = state.nextJob() else { Issue.record("the queue is empty"); return }
        #expect(!state.isWorking)
        guard case .now(.pong(re: "p")) = state.received(decoded(#"{"type":"ping","id":"p"}"#), closing: false, now: start) else {
            Issue.record("a ping is answered at once"); return
        }
    }

    @Test("before sign-in a socket has 10 frames, readable or not; the 11th is one too many; after sign-in they are not counted")
    func framesBeforeAuth() {
        var state = machine()
        for n in 1...10 {
            let text = n.isMultiple(of: 2) ? "not json" : #"{"type":"ping","id":"p"}"#
            switch state.screen(decoded(text), closing: false, now: start) {
            case .wait(.signIn), .undecodable: break
            default: Issue.record("frame \(n) is answered as before")
            }
        }
        guard case .tooManyBeforeAuth = state.screen(decoded(#"{"type":"ping"}"#), closing: false, now: start) else {
            Issue.record("the 11th closes"); return
        }
        var signed = machine()
        for _ in 1...5 { _ = signed.screen(decoded(#"{"type":"ping"}"#), closing: false, now: start) }
        _ = signed.signedIn(session())
        for n in 1...20 {
            guard case .pong = signed.screen(decoded(#"{"type":"ping","id":"p"}"#), closing: false, now: start) else {
                Issue.record("after sign-in, frame \(n) is a request like any other"); return
            }
        }
        var binary = machine()
        for _ in 1...10 { #expect(binary.binaryReceived(now: start) == .fine) }
        #expect(binary.binaryReceived(now: start) == .misusing, "binary frames count too")
    }

    @Test("requests behind one that waits are queued, in order, until the task has done them all")
    func ordering() {
        var state = machine()
        _ = state.signedIn(session())
        guard case .startWorking = state.received(decoded(Self.history), closing: false, now: start) else {
            Issue.record("history waits"); return
        }
        guard case .queued = state.received(decoded(#"{"type":"ping","id":"p"}"#), closing: false, now: start) else {
            Issue.record("a ping behind a wait waits too"); return
        }
        guard case .queued = state.received(decoded(Self.send), closing: false, now: start) else { Issue.record("queued"); return }
        guard case .job(.wait(.perform(let first, _))) = state.nextJob() else { Issue.record("history first"); return }
        #expect(first.id == "h")
        guard case .job(.request(let second)) = state.nextJob(), case .now(.pong("p")) = state.screenNow(second, start) else {
            Issue.record("then the ping"); return
        }
        guard case .job(.request(let third)) = state.nextJob(), case .now(.submit(_, "s", _)) = state.screenNow(third, start) else {
            Issue.record("then the send"); return
        }
        var resumed = false
        let resume: @Sendable () -> Void = {}
        state.opened(resumeReading: resume)
        if case .idle(let resumeReading) = state.nextJob() { resumed = resumeReading != nil }
        #expect(resumed, "the reader is told to read again")
    }

    @Test("the send window: slots while free, then the task waits; an answer passes the slot on, and a drain waits for the last")
    func sendWindow() async {
        var state = machine(window: 2)
        _ = state.signedIn(session())
        for _ in 0..<2 {
            guard case .now(.submit) = state.received(decoded(Self.send), closing: false, now: start) else {
                Issue.record("a send with a free slot is submitted at once"); return
            }
        }
        guard case .startWorking = state.received(decoded(Self.send), closing: false, now: start) else {
            Issue.record("a full window makes the send wait"); return
        }
        guard case .job(.wait(.perform(let request, _))) = state.nextJob(), case .send = request.action else {
            Issue.record("the send waits in the task"); return
        }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let takenNow = state.waitForSendSlot(waiter)
            #expect(!takenNow, "no slot: the task waits")
            let resumed = state.sendAnswered()
            #expect(resumed.count == 1, "an answer passes its slot straight to the waiting task")
            resumed.forEach { $0.resume() }
        }
        let slot = state.takeSendSlot()
        #expect(!slot, "still two in flight")
        let none = state.sendAnswered()
        #expect(none.isEmpty)
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let idle = state.waitForSendsAnswered(waiter)
            #expect(!idle, "one is still in flight")
            let resumed = state.sendAnswered()
            #expect(resumed.count == 1, "the last answer wakes the drain")
            resumed.forEach { $0.resume() }
        }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let idle = state.waitForSendsAnswered(waiter)
            #expect(idle, "nothing in flight: no wait")
            if idle { waiter.resume() }
        }
        let free = state.takeSendSlot()
        #expect(free)
    }

    @Test("draining: requests are ignored; the server stopping drains a session and closes an unsigned socket")
    func stopping() {
        var unsigned = machine()
        guard case .closeUnsigned = unsigned.serverStopping() else { Issue.record("no session: close"); return }

        var state = machine()
        let ann = session()
        _ = state.signedIn(ann)
        guard case .drain(let drained) = state.serverStopping() else { Issue.record("a session drains"); return }
        #expect(drained === ann)
        guard case .none = state.serverStopping() else { Issue.record("once"); return }
        let again = state.drain()
        #expect(!again, "already draining")
        guard case .now(.ignore) = state.received(decoded(Self.send), closing: false, now: start) else {
            Issue.record("a draining session answers nothing"); return
        }
    }

    @Test("a closing socket answers nothing; the end unregisters the session once")
    func ending() {
        var state = machine()
        let ann = session()
        _ = state.signedIn(ann)
        guard case .now(.ignore) = state.received(decoded(Self.send), closing: true, now: start) else {
            Issue.record("closing: ignored"); return
        }
        guard case .unregister(let ended) = state.ended() else { Issue.record("the session is unregistered"); return }
        #expect(ended === ann)
        guard case .none = state.ended() else { Issue.record("only once"); return }
        let late = state.signedIn(session())
        #expect(!late, "a sign-in that finishes after the end is refused")

        var unsigned = machine()
        guard case .release = unsigned.ended() else { Issue.record("no session to unregister"); return }
    }

    @Test("over the request rate: refused with the wait, and past the strikes the verdict is flooding; sends are not counted")
    func rateLimits() {
        var state = machine { controls in
            controls.requestRate = 1
            controls.requestBurst = 1
            controls.floodStrikes = 2
        }
        _ = state.signedIn(session())
        let ping = decoded(#"{"type":"ping"}"#)
        guard case .now(.pong) = state.received(ping, closing: false, now: start) else { Issue.record("the burst"); return }
        var verdicts: [ConnectionGuard.Verdict] = []
        for _ in 0..<3 {
            guard case .now(.rateLimited(_, let wait, let verdict, _)) = state.received(ping, closing: false, now: start) else {
                Issue.record("over the rate"); return
            }
            #expect(wait > .zero)
            verdicts.append(verdict)
        }
        #expect(verdicts == [.fine, .fine, .flooding])
        guard case .now(.submit) = state.received(decoded(Self.send), closing: false, now: start) else {
            Issue.record("sends have their own limit"); return
        }
    }

    @Test("frames that cannot be read are answered, and past the warnings the verdict is misusing; a bad send is refused at once")
    func mistakes() {
        var state = machine { $0.protocolWarnings = 1 }
        _ = state.signedIn(session())
        var verdicts: [ConnectionGuard.Verdict] = []
        for _ in 0..<2 {
            guard case .now(.undecodable(_, let misuse)) = state.received(decoded("not json"), closing: false, now: start) else {
                Issue.record("undecodable"); return
            }
            verdicts.append(misuse)
        }
        #expect(verdicts == [.fine, .misusing])
        guard case .now(.refuseSend(let error, "x", _)) = state.received(
            decoded(#"{"type":"send","id":"x","conversation_id":"c"}"#), closing: false, now: start)
        else { Issue.record("a send without text is refused at once"); return }
        #expect(error == .invalidRequest("text is required"))
    }
}

extension ConnectionStateMachine {
    /// Screens a queued request as the task does, wrapped like `received`.
    mutating func screenNow(_ decoded: Decoded, _ now: ContinuousClock.Instant) -> ReceiveAction {
        .now(screen(decoded, closing: false, now: now))
    }
}
