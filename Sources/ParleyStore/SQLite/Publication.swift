import Dispatch
import GRDB
import ParleyCore

/// An event a write publishes, with the conversation whose order it keeps.
struct Publication: Sendable {
    let conversation: Int64
    let event: ChatEvent
}
