import Dispatch
import Foundation
import ParleyCore

/// Where events leave the SQLite store: after each commit the write lane
/// hands over its batch's reports, and they run here, off the writer, so
/// the next batch starts at once instead of waiting for acks and fan-out.
///
/// Reports are spread over serial queues by conversation: those of one
/// conversation run in commit order (so its events are published in seq
/// order, and a member added hears of it before any later message), and
/// different conversations run in parallel.
final class CommitReporter: Sendable {
    let broker: any EventBroker
    /// Whether the commit wrote the events for the other nodes already
    /// (PostgreSQL's event log): then they are published to this node only.
    let carriedByCommit: Bool
    private let queues: [DispatchQueue]

    init(broker: any EventBroker, carriedByCommit: Bool = false, queues count: Int = max(2, ProcessInfo.processInfo.activeProcessorCount)) {
        self.broker = broker
        self.carriedByCommit = carriedByCommit
        self.queues = (0..<count).map { DispatchQueue(label: "parley.commit-reports.\($0)") }
    }

    /// Called by the writer after a commit, with the batch's reports in
    /// commit order.
    func committed(_ reports: [CommitReport]) {
        var byQueue = [[CommitReport]](repeating: [], count: queues.count)
        for report in reports {
            guard let conversation = report.conversation else {
                report.answer()
                continue
            }
            byQueue[Int(UInt64(bitPattern: conversation) % UInt64(queues.count))].append(report)
        }
        let broker = self.broker, carriedByCommit = self.carriedByCommit
        for (queue, reports) in zip(queues, byQueue) where !reports.isEmpty {
            queue.async {
                for report in reports {
                    report.answer()
                    for event in report.preceding { publish(event, broker, carriedByCommit) }
                    if let event = report.event { publish(event, broker, carriedByCommit) }
                }
            }
        }
    }

    /// Returns once every report handed over so far has run.
    func flush() async {
        for queue in queues {
            await withCheckedContinuation { continuation in queue.async { continuation.resume() } }
        }
    }
}

private func publish(_ event: ChatEvent, _ broker: any EventBroker, _ carriedByCommit: Bool) {
    if carriedByCommit { broker.publishCommitted(event) } else { broker.publish(event) }
}
