import Foundation
import MetronModel

/// Where a sweep's results live:
///
/// ```
/// results/<sweep>/capacity.csv                      one row per system (x workload x SLO)
/// results/<sweep>/provenance.json                   which Metron, command, client and servers
/// results/<sweep>/<system>/prefill_model.json       the system's prefill model, when profiled
/// results/<sweep>/<system>/<workload>/probes/rate-4.000/{requests.jsonl,probe.json,summary.json,complete}
/// results/<sweep>/<system>/<workload>/<slo>/capacity.json
/// ```
///
/// Probes depend on system and workload only, so every SLO of a sweep shares them; verdicts are
/// recomputed per SLO from the raw records.
public struct ResultsLayout: Sendable, Equatable {
    public let root: URL
    public let sweep: String

    public init(root: URL, sweep: String) {
        self.root = root
        self.sweep = sweep
    }

    public var sweepDirectory: URL { root.appendingPathComponent(sweep, isDirectory: true) }
    public var capacityCSV: URL { sweepDirectory.appendingPathComponent("capacity.csv") }
    public var provenanceFile: URL { sweepDirectory.appendingPathComponent(Provenance.fileName) }

    public func systemDirectory(_ system: String) -> URL { sweepDirectory.appendingPathComponent(system, isDirectory: true) }

    public func prefillModel(system: String) -> URL {
        systemDirectory(system).appendingPathComponent("prefill_model.json")
    }

    public func probes(system: String, workload: String) -> URL {
        systemDirectory(system).appendingPathComponent(workload, isDirectory: true).appendingPathComponent("probes", isDirectory: true)
    }

    public func search(system: String, workload: String, slo: String) -> URL {
        systemDirectory(system).appendingPathComponent(workload, isDirectory: true).appendingPathComponent(slo, isDirectory: true)
    }
}
