import Foundation
import MetronSearch

/// A finished search as the rankings see it: where it sits in the sweep, and its result.
public protocol RankedSearch {
    var entry: SweepReport.Entry { get }
    var result: CapacityResult { get }
}

/// A sweep's capacities as tables: one ranking per (workload, SLO), since capacities under different
/// workloads or SLOs are not comparable.
public enum SweepRankings {
    /// One row per search, named `system/workload/slo` when `qualified` (the sweep has several
    /// workloads or SLOs).
    public static func rows(_ searches: [some RankedSearch], qualified: Bool) -> [SystemCapacity] {
        searches.map { s in
            let e = s.entry
            let name = { (system: String) in qualified ? "\(system)/\(e.workload)/\(e.slo)" : system }
            var row = s.result.systemCapacity(system: name(e.system), gpus: e.gpus, usdPerHour: e.usdPerHour)
            if let next = row.pairedWithNext?.system { row.pairedWithNext?.system = name(next) }
            return row
        }
    }

    /// Which ranking table each row of `rows` belongs to.
    public static func tables(_ searches: [some RankedSearch]) -> [String] {
        searches.map { "\($0.entry.workload)\u{0}\($0.entry.slo)" }
    }

    /// The terminal ranking, a table per (workload, SLO).
    public static func text(_ searches: [some RankedSearch], confidence: Double = 0.95) -> String {
        var groups: [(key: String, rows: [SystemCapacity])] = []
        for s in searches {
            let key = "workload \(s.entry.workload), SLO \(s.entry.slo): \(s.result.slo.description)"
            let row = rows([s], qualified: false)[0]
            if let i = groups.firstIndex(where: { $0.key == key }) { groups[i].rows.append(row) } else { groups.append((key, [row])) }
        }
        let simulated = searches.contains { $0.result.simulated }
        let banner = simulated ? "SIMULATED: virtual-time serving model, not real servers\n" : ""
        return banner + groups.map { "\($0.key)\n" + CapacityTable.ranking($0.rows, confidence: confidence) }.joined(separator: "\n")
    }

    /// `capacity.csv`: every row, ranked within its table.
    public static func writeCSV(_ searches: [some RankedSearch], qualified: Bool, confidence: Double, to url: URL) throws {
        try CapacityTable.writeCSV(rows(searches, qualified: qualified), tables: tables(searches), confidence: confidence, to: url)
    }
}
