import ParleyStore
import ServiceLifecycle

/// Closes the store, after queued writes commit, when the application stops.
struct StoreService: Service {
    let store: any ChatStore

    func run() async throws {
        try? await gracefulShutdown()
        try await store.close()
    }
}
