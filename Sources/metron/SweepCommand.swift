import ArgumentParser
import Foundation
import MetronModel
import MetronLoad
import MetronReport
import MetronSearch
import MetronSweep

struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run every capacity search of a sweep file into results/.",
        discussion: """
            For each system, workload and SLO of the file: a capacity search (the built-in simulator's \
            systems are started on free local ports and stopped at the end). Different systems' searches \
            run at once, at most search.parallel_systems (fewer when the client lags). Results go to \
            RESULTS/<sweep name>/ (RESULTS/<sweep name>-simulated/ with --simulate); finished probes are \
            reused when the sweep is run again. RESULTS/<sweep name>/report.html shows the whole sweep on \
            one page that opens offline. Plots are drawn by plot_sweep.py (installed beside metron, or the \
            repository's plots-scripts/ for a build tree) when python3 with matplotlib is available. Each \
            server's Prometheus /metrics is scraped once a second during its probes unless \
            --no-server-metrics (or probe.server_metrics: false) says otherwise. With --shard, each of N \
            processes (a Slurm job array, a Kubernetes Indexed Job) measures its share of the searches into \
            the shared RESULTS directory; `metron sweep FILE --collect` then writes the table, report and plots.
            """)

    @Argument(help: "The sweep file (YAML); check it first with `metron validate`.")
    var sweepFile: String

    @Flag(help: "Measure the simulator's systems in virtual time (seconds instead of minutes; results are marked SIMULATED).")
    var simulate = false

    @Option(help: "Directory for results.")
    var results = "results"

    @Option(help: "The plotting script (default: plot_sweep.py installed beside metron); plots are skipped when it is missing.")
    var plotsScript: String?

    @Flag(help: "Do not draw plots.")
    var noPlots = false

    @OptionGroup var priority: RealtimeOptions

    @Option(help: "Per-request total timeout, seconds.")
    var timeout: Double = 600

    @Option(help: "Per-request timeout to the first token, seconds.")
    var firstTokenTimeout: Double = 120

    @OptionGroup var serverMetrics: ServerMetricsOptions

    @Option(help: "Measure shard I of N of the searches (whole servers; single workloads of simulator systems), or auto: the launcher's index and count (a Slurm job array, srun, a Kubernetes Indexed Job with --shards, MPI). Writes no table: see --collect.")
    var shard: String?

    @Option(help: "Shards in all, for --shard auto in a Kubernetes Indexed Job (its completions).")
    var shards: Int?

    @Flag(help: "Measure nothing: write capacity.csv, the rankings, report.html and plots from the searches the shards finished.")
    var collect = false

    @OptionGroup var launching: LauncherOptions

    @Flag(help: "With --collect: rank the finished searches even when some have no result (they are listed).")
    var allowIncomplete = false

    func validate() throws {
        guard timeout > 0, firstTokenTimeout > 0 else { throw ValidationError("timeouts must be positive") }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1, got \(shards)") }
        if shard == nil, shards != nil { throw ValidationError("--shards goes with --shard auto") }
        if collect, shard != nil { throw ValidationError("--collect gathers the shards' results; it takes no --shard") }
        if allowIncomplete, !collect { throw ValidationError("--allow-incomplete goes with --collect") }
        _ = try shard.map { try resolveShard($0, shards: shards) }
        if collect, launching.launcher != nil { throw ValidationError("--collect measures nothing; it takes no --launcher") }
        try launching.check(simulate: simulate)
    }

    func run() async throws {
        var sweep: SweepFile
        do {
            sweep = try SweepFile.load(path: sweepFile, environment: ProcessInfo.processInfo.environment)
        } catch let error as InputFileError {
            log(error.description)
            log("\(error.problems.count) problem(s) in \(sweepFile); nothing was run")
            throw ExitCode(2)
        }
        serverMetrics.apply(to: &sweep.probe)
        let options = LoadOptions(
            timeouts: RequestTimeouts(firstToken: firstTokenTimeout, total: timeout), realtime: priority.mode)
        let (searches, layout): ([SweepSearch], ResultsLayout)
        if collect {
            do {
                (searches, layout) = try SweepSession.collect(sweep, simulated: simulate, results: results, sweepFile: sweepFile,
                                                              allowIncomplete: allowIncomplete, log: log)
            } catch let incomplete as SweepSession.IncompleteSweep {
                log("\(sweepFile): \(incomplete)")
                throw ExitCode(1)
            }
        } else {
            let shard = try self.shard.map { try resolveShard($0, shards: shards) }
            (searches, layout) = try await measureSweep(
                sweep, mode: simulate ? .virtual : .http(options), results: results, sweepFile: sweepFile, shard: shard,
                fleet: try launching.fleet(results: results))
            if let shard {
                return print("shard \(shard): \(searches.count) searches finished under \(layout.sweepDirectory.path); "
                             + "`metron sweep \(sweepFile) --collect\(simulate ? " --simulate" : "")` writes the table once every shard is done")
            }
        }
        print(SweepRankings.text(searches, confidence: sweep.search.confidence))
        print("wrote \(layout.capacityCSV.path)")
        if !noPlots { drawPlots(layout.sweepDirectory) }
    }

    private func drawPlots(_ directory: URL) {
        let plotsScript: String
        if let given = self.plotsScript {
            guard FileManager.default.fileExists(atPath: given) else { return log("plots skipped: \(given) not found") }
            plotsScript = given
        } else {
            let found = InstalledAssets.plotScript()
            guard let url = found.url else {
                return log("plots skipped: \(InstalledAssets.plotScriptName) not found (looked in "
                           + "\(found.searched.map(\.path).joined(separator: ", ")))")
            }
            plotsScript = url.path
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", plotsScript, directory.path]
        do {
            try process.run()
            process.waitUntilExit()
            if process.terminationStatus != 0 { log("plots failed (exit \(process.terminationStatus)); results are complete") }
        } catch {
            log("plots skipped: cannot run python3: \(error)")
        }
    }
}

/// `SweepSession.run` with progress on standard error (a status line on a terminal), its stop as the
/// exit status it names.
func measureSweep(
    _ sweep: SweepFile, mode: MeasurementMode, results: String, prefill: PrefillModel? = nil, sweepFile: String? = nil,
    shard: Shard? = nil, fleet: ClientFleet? = nil
) async throws -> ([SweepSearch], ResultsLayout) {
    defer { ProgressLine.shared.finish() }
    do {
        return try await SweepSession.run(sweep, mode: mode, results: results, prefill: prefill, sweepFile: sweepFile,
                                          shard: shard, fleet: fleet, log: log, status: ProgressLine.shared.update)
    } catch let stopped as SweepStopped {
        throw ExitCode(stopped.exitStatus)
    }
}
