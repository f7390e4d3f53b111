import ArgumentParser
import Foundation
import MetronLoad
import MetronModel
import MetronReport
import MetronSearch
import MetronSweep

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Recompute a run's summary from its requests.jsonl (and the settings in run.json), with its provenance.",
        discussion: """
            Streams the file, so memory does not grow with it. Works on the directory of a run that was \
            killed: its finished records are summarised, an incomplete last line is skipped with a warning. \
            Given a search's directory (capacity.json) or a sweep's (provenance.json) instead of a run's, \
            prints the search's result or the sweep's provenance.
            """)

    @Argument(help: "A directory written by `metron run` (or a search's or sweep's results directory).")
    var directory: String

    @Option(help: "First-token deadline D_p, seconds (default: the run's).")
    var ttftDeadline: Double?

    @Option(help: "Per-token deadline D_d, seconds (default: the run's).")
    var tbtDeadline: Double?

    @Option(help: "Tokens the fluidity-index counts: all or visible (default: the run's).")
    var fluidityTokens: FluidityTokens?

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
        let has = { FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path) }
        if !has(RunDirectory.settingsFile), !json {
            if has(CapacityResult.fileName) {
                let result = try CapacityResult.read(from: url)
                print(result.summaryText + result.probeTable)
                return printProvenance(result.provenance)
            }
            if has(Provenance.fileName) { return printProvenance(try Provenance.read(from: url.appendingPathComponent(Provenance.fileName))) }
        }
        var settings = try RunDirectory.readSettings(from: url)
        if let ttftDeadline { settings.ttftDeadlineS = ttftDeadline }
        if let tbtDeadline { settings.tbtDeadlineS = tbtDeadline }
        if let fluidityTokens {
            if let api = APIKind(rawValue: settings.api), let problem = fluidityTokens.problem(on: api) {
                throw ValidationError("\(problem); this run used --api \(api.rawValue)")
            }
            settings.fluidityTokens = fluidityTokens.recorded
        }
        let summary = try settings.summary(
            ofRecordsIn: RunDirectory.recordsURL(in: url), onWarning: { log("warning: \($0)") })
        print(json ? try RunDirectory.summaryJSON(summary) : SummaryText.render(summary))
        if !json { printProvenance(settings.provenance) }
    }

    private func printProvenance(_ provenance: Provenance?) {
        print("provenance:\n" + (provenance?.text ?? "not recorded (written by a Metron that did not record it)\n"), terminator: "")
    }
}
