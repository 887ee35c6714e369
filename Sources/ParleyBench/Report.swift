// One result shape for every scenario: a readable table for people and the
// same numbers as JSON (--json) for scripts that compare runs.

import Foundation

public struct Report: Codable, Sendable {
    public struct Metric: Codable, Sendable {
        public var name: String
        public var value: Double
        public var unit: String
    }

    public var scenario: String
    public var parameters: [String: String] = [:]
    /// The metrics by machine key (e.g. `acks_per_s`), for scripts.
    public var values: [String: Double] = [:]
    /// The same, in print order with labels and units, for the table.
    public var metrics: [Metric] = []
    public var latencies: [String: LatencySummary] = [:]
    /// Order in which latency tables are printed.
    public var latencyOrder: [String] = []
    public var errors: [String: Int] = [:]
    public var notes: [String] = []
    /// True when lost and duplicated deliveries are both 0 (where measured).
    public var ok = true

    public init(scenario: String) { self.scenario = scenario }

    public mutating func add(_ name: String, _ value: Double, _ unit: String = "") {
        metrics.append(Metric(name: name, value: value, unit: unit))
        values[Report.key(name)] = value
    }

    /// `send→delivery` → `send_to_delivery`, `acks/s` → `acks_per_s`.
    static func key(_ label: String) -> String {
        var s = label.lowercased().replacingOccurrences(of: "→", with: " to ").replacingOccurrences(of: "/", with: " per ")
        s = String(s.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        while s.contains("__") { s = s.replacingOccurrences(of: "__", with: "_") }
        return s.trimmingCharacters(in: CharacterSet(charactersIn: "_"))
    }

    public mutating func add(_ name: String, _ value: Int, _ unit: String = "") {
        add(name, Double(value), unit)
    }

    public mutating func latency(_ name: String, _ histogram: LatencyHistogram) {
        latencies[Report.key(name)] = LatencySummary(histogram)
        latencyOrder.append(name)
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public func table() -> String {
        var out = "parley-bench \(scenario)\n"
        if !parameters.isEmpty {
            out += "  " + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n"
        }
        out += "\n"
        let width = max(12, metrics.map(\.name.count).max() ?? 0)
        for m in metrics {
            let value = m.value == m.value.rounded() && abs(m.value) < 1e15 ? String(Int(m.value)) : String(format: "%.2f", m.value)
            out += "  " + m.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value.leftPad(14) + (m.unit.isEmpty ? "" : " \(m.unit)") + "\n"
        }
        if !latencyOrder.isEmpty {
            out += "\n  " + "latency (ms)".padding(toLength: width, withPad: " ", startingAt: 0)
            for h in ["count", "p50", "p90", "p99", "p99.9", "max"] { out += h.leftPad(10) }
            out += "\n"
            for name in latencyOrder {
                guard let l = latencies[Report.key(name)] else { continue }
                out += "  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + String(l.count).leftPad(10)
                for v in [l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms] { out += String(format: "%.3f", v).leftPad(10) }
                out += "\n"
            }
        }
        if !errors.isEmpty {
            out += "\n  errors: " + errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n"
        }
        for note in notes { out += "  note: \(note)\n" }
        out += "\n  result: \(ok ? "OK" : "PROBLEM (see lost/duplicated/errors above)")\n"
        return out
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
