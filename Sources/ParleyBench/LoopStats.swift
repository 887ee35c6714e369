// Counters and histograms are kept per event loop and merged at the end:
// every session records into the stats of the loop it runs on, so the hot
// path takes no lock and shares no cache line with the other loops.

import Histogram
import NIOCore
import NIOPosix

/// Latencies are recorded in microseconds, up to 10 minutes, 3 significant digits.
public typealias LatencyHistogram = Histogram<UInt64>

public func makeLatencyHistogram() -> LatencyHistogram {
    LatencyHistogram(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
}

/// The stats of one event loop. Touched only on that loop.
public final class LoopStats: @unchecked Sendable {
    public var delivery = makeLatencyHistogram()
    public var ack = makeLatencyHistogram()
    public var catchUp = makeLatencyHistogram()
    /// With several nodes: deliveries to a session on the sender's node,
    /// and on another node (the event went through PostgreSQL).
    public var deliverySameNode = makeLatencyHistogram()
    public var deliveryOtherNode = makeLatencyHistogram()
    public var sent = 0
    public var acked = 0
    public var ackedDuplicate = 0
    public var delivered = 0
    public var duplicates = 0
    public var outOfOrder = 0
    public var foreign = 0
    /// Counted only while the measured window is open (see `windowEnd`).
    public var ackedInWindow = 0
    public var deliveredInWindow = 0
    public var errors: [String: Int] = [:]

    public init() {}

    public func merge(_ other: LoopStats) {
        delivery.add(other.delivery)
        ack.add(other.ack)
        catchUp.add(other.catchUp)
        deliverySameNode.add(other.deliverySameNode)
        deliveryOtherNode.add(other.deliveryOtherNode)
        sent += other.sent
        acked += other.acked
        ackedDuplicate += other.ackedDuplicate
        delivered += other.delivered
        duplicates += other.duplicates
        outOfOrder += other.outOfOrder
        foreign += other.foreign
        ackedInWindow += other.ackedInWindow
        deliveredInWindow += other.deliveredInWindow
        for (k, v) in other.errors { errors[k, default: 0] += v }
    }

    /// A copy, so that it can leave its loop.
    func copy() -> LoopStats {
        let c = LoopStats()
        c.merge(self)
        return c
    }
}

/// One LoopStats per event loop of the group.
public final class StatsBoard: Sendable {
    private let byLoop: [ObjectIdentifier: LoopStats]
    private let loops: [any EventLoop]

    public init(group: MultiThreadedEventLoopGroup) {
        var map: [ObjectIdentifier: LoopStats] = [:]
        var loops: [any EventLoop] = []
        for loop in group.makeIterator() {
            map[ObjectIdentifier(loop)] = LoopStats()
            loops.append(loop)
        }
        self.byLoop = map
        self.loops = loops
    }

    /// The stats of `loop`; call only on that loop.
    public func stats(for loop: any EventLoop) -> LoopStats {
        byLoop[ObjectIdentifier(loop)]!
    }

    /// All loops' stats, merged (each read on its own loop).
    public func merged() async throws -> LoopStats {
        let total = LoopStats()
        for loop in loops {
            let stats = byLoop[ObjectIdentifier(loop)]!
            let part = try await loop.submit { stats.copy() }.get()
            total.merge(part)
        }
        return total
    }
}

/// Percentiles of a histogram, in milliseconds.
public struct LatencySummary: Codable, Sendable {
    public var count: UInt64
    public var p50_ms: Double
    public var p90_ms: Double
    public var p99_ms: Double
    public var p999_ms: Double
    public var max_ms: Double
    public var mean_ms: Double

    public init(_ h: LatencyHistogram) {
        func ms(_ us: UInt64) -> Double { (Double(us) / 1000 * 1000).rounded() / 1000 }
        count = h.totalCount
        if h.totalCount == 0 {
            p50_ms = 0; p90_ms = 0; p99_ms = 0; p999_ms = 0; max_ms = 0; mean_ms = 0
            return
        }
        p50_ms = ms(h.valueAtPercentile(50))
        p90_ms = ms(h.valueAtPercentile(90))
        p99_ms = ms(h.valueAtPercentile(99))
        p999_ms = ms(h.valueAtPercentile(99.9))
        max_ms = ms(h.max)
        mean_ms = (h.mean / 1000 * 1000).rounded() / 1000
    }
}
