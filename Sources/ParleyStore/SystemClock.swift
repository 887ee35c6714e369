import Foundation
import GRDB
import ParleyCore

/// Wall-clock milliseconds.
public enum SystemClock {
    @Sendable public static func millis() -> Millis {
        Millis((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
