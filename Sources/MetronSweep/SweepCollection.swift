import Foundation
import MetronModel
import MetronSearch
import MetronReport

/// The searches of a sweep that its shards (`metron sweep --shard`) finished into one results
/// directory, gathered for the sweep's table (`metron sweep --collect`).
public struct SweepCollection: Sendable {
    /// Finished searches of this sweep file, in the sweep's order.
    public var searches: [SweepSearch]
    /// `system/workload/slo` of each search with no result from this sweep file, and why.
    public var missing: [String]

    /// Reads every search's `capacity.json` under `layout`. A result counts only when it was written
    /// for a sweep file with the hash `sweepFileSHA256`: an edited file may plan other probes.
    public init(sweep: SweepFile, layout: ResultsLayout, sweepFileSHA256: String) {
        searches = []
        missing = []
        for system in sweep.systems {
            for workload in sweep.workloads {
                for spec in sweep.slos {
                    let label = "\(system.name)/\(workload.name)/\(spec.name)"
                    let directory = layout.search(system: system.name, workload: workload.name, slo: spec.name)
                    guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(CapacityResult.fileName).path) else {
                        missing.append("\(label): not finished")
                        continue
                    }
                    let result: CapacityResult
                    do {
                        result = try CapacityResult.read(from: directory)
                    } catch {
                        missing.append("\(label): \(directory.path)/\(CapacityResult.fileName) cannot be read: \(error)")
                        continue
                    }
                    guard let written = result.provenance?.sweepFileSHA256, written == sweepFileSHA256 else {
                        missing.append("\(label): written for another version of the sweep file (SHA-256 "
                                       + "\(result.provenance?.sweepFileSHA256?.prefix(12) ?? "unrecorded")…); run its shard again")
                        continue
                    }
                    searches.append(SweepSearch(system: system, workload: workload.name, slo: spec, result: result))
                }
            }
        }
    }

    /// Writes the sweep's table, provenance and report from the searches gathered.
    public func write(sweep: SweepFile, layout: ResultsLayout, provenance: Provenance?) throws {
        try sweep.writeSweepFiles(searches, layout: layout, provenance: provenance)
    }
}
