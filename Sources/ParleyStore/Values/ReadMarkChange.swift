import ParleyCore

public struct ReadMarkChange: Sendable {
    public let mark: ReadMark
    /// False when the requested seq was at or behind the current mark.
    public let moved: Bool
}
