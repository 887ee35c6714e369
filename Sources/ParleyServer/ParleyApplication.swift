import Logging
import ServiceLifecycle

/// The Hummingbird application with the graceful shutdown in front of it:
/// one service group in which the shutdown's service stops first, so that
/// sessions are drained and closed (1001) before the server stops and waits
/// for its connections.
public struct ParleyApplication: Service {
    let application: any Service
    let shutdown: GracefulShutdown
    let logger: Logger

    public func run() async throws {
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: application), .init(service: GracefulShutdown.Service(shutdown: shutdown))], logger: logger))
        try await group.run()
    }

    /// Runs until SIGTERM or SIGINT, then drains the sessions and stops within 10 s.
    public func runService() async throws {
        var configuration = ServiceGroupConfiguration(services: [self], logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        configuration.maximumGracefulShutdownDuration = .seconds(10)
        try await ServiceGroup(configuration: configuration).run()
    }
}
