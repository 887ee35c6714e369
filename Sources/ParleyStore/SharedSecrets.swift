/// A store that several processes may share keeps the secrets they must
/// agree on (the key that signs tokens) in the database itself, so that a
/// token one node signed is good on every other. SQLite, used by one
/// process, keeps its key in a file beside the database instead.
public protocol SharedSecrets: Sendable {
    /// The secret stored under `name`; if there is none yet, `candidate` is
    /// stored and returned. Whoever stores first wins; every caller gets
    /// the same bytes.
    func sharedSecret(named name: String, orStore candidate: [UInt8]) async throws -> [UInt8]
}
