// Readings of other processes over a stretch of a run: every 100 ms each
// one's VmRSS (/proc/PID/status) and utime+stime (/proc/PID/stat), keeping
// the peak RSS and the CPU seconds used between start and stop; and the
// whole machine's busy time (/proc/stat), to tell whether it was saturated.

import Foundation
import NIOConcurrencyHelpers
import NIOCore

final class ProcessSampler: Sendable {
    struct Reading: Sendable {
        var peakRSS = 0
        var firstCPU: Double?
        var lastCPU: Double?
        var cpuSeconds: Double { (lastCPU ?? 0) - (firstCPU ?? 0) }
    }

    struct Result: Sendable {
        var processes: [Reading]
        /// Seconds between start and stop.
        var seconds: Double
        /// Average cores busy over the machine (all processes), if /proc/stat was readable.
        var machineBusyCores: Double?
    }

    private let pids: [Int32]
    private let readings: NIOLockedValueBox<[Reading]>
    private let started = monotonicNanos()
    private let machineStart = MachineTime.read()
    private let task: NIOLockedValueBox<Task<Void, Never>?> = NIOLockedValueBox(nil)

    /// Starts sampling `pids` at once and every `intervalMs`.
    init(pids: [Int32], intervalMs: UInt64 = 100) {
        self.pids = pids
        self.readings = NIOLockedValueBox(Array(repeating: Reading(), count: pids.count))
        sample()
        let t = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: intervalMs * 1_000_000)
                sample()
            }
        }
        task.withLockedValue { $0 = t }
    }

    private func sample() {
        let now = pids.map { (ProcessMemory.residentBytes(pid: $0), processCPUSeconds(pid: $0)) }
        readings.withLockedValue { r in
            for (i, (rss, cpu)) in now.enumerated() {
                if let rss { r[i].peakRSS = max(r[i].peakRSS, rss) }
                if let cpu {
                    if r[i].firstCPU == nil { r[i].firstCPU = cpu }
                    r[i].lastCPU = cpu
                }
            }
        }
    }

    /// Takes a last sample and stops.
    func stop() async -> Result {
        let t = task.withLockedValue { $0 }
        t?.cancel()
        await t?.value
        sample()
        let seconds = Double(monotonicNanos() - started) / 1e9
        var busy: Double?
        if let a = machineStart, let b = MachineTime.read(), b.total > a.total {
            // Jiffies are per core: busy share × cores = cores busy on average.
            busy = Double(b.busy - a.busy) / Double(b.total - a.total) * Double(System.coreCount)
        }
        return Result(processes: readings.withLockedValue { $0 }, seconds: seconds, machineBusyCores: busy)
    }
}

/// The first line of /proc/stat: jiffies over all cores.
struct MachineTime {
    var busy: UInt64
    var total: UInt64

    static func read() -> MachineTime? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let v = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard v.count >= 5 else { return nil }
        let idle = v[3] + v[4]  // idle + iowait
        let total = v.reduce(0, +)
        return MachineTime(busy: total - idle, total: total)
    }
}
