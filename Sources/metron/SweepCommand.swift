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
            --no-server-metrics (or probe.server_metrics: false) says otherwise.
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

    @Flag(help: "Ask for real-time (SCHED_FIFO) priority for the load generator's thread.")
    var realtime = false

    @Option(help: "Per-request total timeout, seconds.")
    var timeout: Double = 600

    @Option(help: "Per-request timeout to the first token, seconds.")
    var firstTokenTimeout: Double = 120

    @OptionGroup var serverMetrics: ServerMetricsOptions

    func validate() throws {
        guard timeout > 0, firstTokenTimeout > 0 else { throw ValidationError("timeouts must be positive") }
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
            timeouts: RequestTimeouts(firstToken: firstTokenTimeout, total: timeout), realtime: realtime)
        let (searches, layout) = try await runSweep(
            sweep, mode: simulate ? .virtual : .http(options), results: results, sweepFile: sweepFile)
        print(SweepRun.rankings(searches, confidence: sweep.search.confidence))
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

/// Runs every search of `sweep`, starting and stopping the simulators it needs; in virtual time its
/// results go to `<name>-simulated`. `prefill`, when given, is the first system's prefill model;
/// `sweepFile`, when given, is hashed into the provenance.
/// Ctrl-C keeps the probe in progress as incomplete and exits 130; a search that stops exits 1;
/// finished probes are kept either way and reused by the next run.
func runSweep(
    _ sweep: SweepFile, mode: MeasurementMode, results: String, prefill: PrefillModel? = nil, sweepFile: String? = nil
) async throws -> ([SweepSearch], ResultsLayout) {
    let started = Date()
    let problems = SystemConnections.problems(sweep: sweep, mode: mode)
    guard problems.isEmpty else {
        problems.forEach(log)
        throw ExitCode(2)
    }
    var sweep = sweep
    if mode == .virtual {
        sweep.name += "-simulated"
        log("SIMULATED: probes run in virtual time against the serving model, not against servers")
    }
    if var prefill, let system = sweep.systems.first {
        // Where the sweep looks for a system's prefill model before profiling it; the one given is
        // taken as this system's, whatever it was profiled on.
        prefill.systemIdentity = SystemIdentity(system.target)
        prefill.ladder = sweep.prefill
        try prefill.save(to: ResultsLayout(root: URL(fileURLWithPath: results), sweep: sweep.name).prefillModel(system: system.name))
    }
    let connections = SystemConnections(sweep: sweep, mode: mode, log: log)
    let ladder = sweep.prefill
    var sweepRun = SweepRun(
        sweep: sweep, resultsRoot: URL(fileURLWithPath: results, isDirectory: true), measurement: mode,
        makeRunner: { system, workload in try await connections.runner(system: system, workload: workload.spec) },
        prefillModel: { system in
            log("\(system.name): profiling prefill at \(ladder.lengths.map(String.init).joined(separator: ", ")) prompt tokens")
            let runner = try await connections.runner(system: system, workload: WorkloadSpec())
            return try await PrefillProfiler.profile(ladder, runner: runner, system: system.name)
        })
    let realtime = if case let .http(options) = mode { options.realtime } else { false }
    let (client, lateness) = ClientSurvey.measureAtStart(realtime: realtime)
    sweepRun.provenance = invocationProvenance(
        sweepFile: sweepFile, startedAt: started, client: client, timerLateness: lateness,
        servers: SystemConnections.describeServers(sweep: sweep, mode: mode))
    let run = sweepRun
    let outcome: Result<[SweepSearch], Error>
    do {
        outcome = .success(try await cancellingOnInterrupt(message: "interrupted: stopping after the probe in progress") {
            try await run.run(progress: log, status: ProgressLine.shared.update)
        }.value)
    } catch {
        outcome = .failure(error)
    }
    ProgressLine.shared.finish()
    await connections.shutdown()
    switch outcome {
    case let .success(searches):
        return (searches, run.layout)
    case let .failure(error):
        let interrupted = (error as? SearchError)?.underlying is ProbeInterrupted
        log(interrupted ? "\((error as! SearchError).underlying)" : "stopped: \(error)")
        log("finished probes are kept under \(run.layout.sweepDirectory.path) and reused by the next run")
        throw ExitCode(interrupted ? 130 : 1)
    }
}

/// A line on standard error: progress and problems, kept apart from the results on standard output
/// (above the status line on a terminal).
@Sendable func log(_ line: String) {
    ProgressLine.shared.log(line)
}
