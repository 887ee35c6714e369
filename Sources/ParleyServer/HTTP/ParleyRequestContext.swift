import Hummingbird
import NIOCore
import ParleyCore

/// Per-request state: who is calling, once `AuthMiddleware` has checked.
struct ParleyRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var identity: Identity?
    /// Set from the configuration by `BodyLimitMiddleware`.
    var maxBodyBytes = 64 * 1024
    /// Where the call comes from, for the per-address limits: the TCP peer,
    /// or the client a trusted proxy names (`ClientAddressMiddleware`).
    var clientAddress: String?
    /// The connection, for the one who must end it early (`BodyDeadlineMiddleware`).
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.clientAddress = source.channel.remoteAddress?.ipAddress
        self.channel = source.channel
    }

    /// Larger bodies get 413.
    var maxUploadSize: Int { maxBodyBytes }

    func requireIdentity() throws(ChatError) -> Identity {
        guard let identity else { throw .unauthorized }
        return identity
    }
}
