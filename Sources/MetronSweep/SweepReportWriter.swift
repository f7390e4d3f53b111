import Foundation
import MetronModel
import MetronSearch
import MetronReport

extension SweepRun {
    /// `report.html` of the sweep, read back from the files the searches wrote.
    func writeReport(_ searches: [SweepSearch]) throws {
        let report = SweepReport.load(layout: layout, entries: searches.map(\.entry), confidence: sweep.search.confidence)
        try ReportHTML.write(report, to: layout.sweepDirectory)
    }
}
