import Foundation
import MetronModel
import MetronSearch
import MetronReport

extension SweepFile {
    /// The sweep's own files from its finished searches: `capacity.csv`, `provenance.json` (ended now)
    /// and `report.html`, which reads back the files the searches wrote.
    func writeSweepFiles(_ searches: [SweepSearch], layout: ResultsLayout, provenance: Provenance?) throws {
        try SweepRankings.writeCSV(searches, qualified: workloads.count > 1 || slos.count > 1,
                                   confidence: search.confidence, to: layout.capacityCSV)
        try provenance?.ended().write(to: layout.provenanceFile)
        let report = SweepReport.load(layout: layout, entries: searches.map(\.entry), confidence: search.confidence)
        try ReportHTML.write(report, to: layout.sweepDirectory)
    }
}
