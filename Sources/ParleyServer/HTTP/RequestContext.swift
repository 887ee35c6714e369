import Hummingbird
import ParleyCore

/// Per-request state: who is calling, once `AuthMiddleware` has checked.
struct ParleyRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var identity: Identity?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// No JSON body the API accepts comes near this; larger ones get 413.
    var maxUploadSize: Int { 64 * 1024 }

    func requireIdentity() throws(ChatError) -> Identity {
        guard let identity else { throw .unauthorized }
        return identity
    }
}
