import ArgumentParser
import Foundation
import MetronReport

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Recompute a run's summary from its requests.jsonl (and the settings in run.json).",
        discussion: """
            Streams the file, so memory does not grow with it. Works on the directory of a run that was \
            killed: its finished records are summarised, an incomplete last line is skipped with a warning.
            """)

    @Argument(help: "A directory written by `metron run`.")
    var directory: String

    @Option(help: "First-token deadline D_p, seconds (default: the run's).")
    var ttftDeadline: Double?

    @Option(help: "Per-token deadline D_d, seconds (default: the run's).")
    var tbtDeadline: Double?

    @Flag(help: "Print the summary as JSON (the format of summary.json).")
    var json = false

    func validate() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(directory): no such directory")
        }
        if let d = ttftDeadline, !(d > 0) { throw ValidationError("--ttft-deadline must be positive, got \(d)") }
        if let d = tbtDeadline, !(d > 0) { throw ValidationError("--tbt-deadline must be positive, got \(d)") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: directory, isDirectory: true)
        var settings = try RunDirectory.readSettings(from: url)
        if let ttftDeadline { settings.ttftDeadlineS = ttftDeadline }
        if let tbtDeadline { settings.tbtDeadlineS = tbtDeadline }
        let summary = try settings.summary(
            ofRecordsIn: RunDirectory.recordsURL(in: url), onWarning: { log("warning: \($0)") })
        print(json ? try RunDirectory.summaryJSON(summary) : SummaryText.render(summary))
    }
}
