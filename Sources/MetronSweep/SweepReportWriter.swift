import Foundation
import MetronModel
import MetronSearch
import MetronReport

extension SweepRun {
    /// `report.html` of the sweep, read back from the files the searches wrote.
    func writeReport(_ searches: [SweepSearch]) throws {
        let entries = searches.map {
            SweepReport.Entry(system: $0.system.name, workload: $0.workload, slo: $0.slo, gpus: $0.system.gpus,
                              usdPerHour: $0.system.usdPerHour)
        }
        let report = SweepReport.load(layout: layout, entries: entries, confidence: sweep.search.confidence)
        try ReportHTML.write(report, to: layout.sweepDirectory)
    }
}
