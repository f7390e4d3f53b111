import ArgumentParser
import Foundation
import MetronModel
import MetronLoad
import MetronReport
import MetronSearch
import MetronSweep

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find the highest request rate one system sustains under a P99 fluidity-index SLO.",
        discussion: """
            A one-system sweep: results go to RESULTS/NAME/ exactly as `metron sweep` writes them, finished \
            probes are reused when the same search runs again, and changing the SLO re-judges them. \
            First-token deadlines come from --ttft-deadline (fixed), from --prefill-model (a file of \
            `metron profile`) plus --ttft-slack, or else from profiling the system first.
            """)

    @OptionGroup var system: SystemOptions
    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var serverMetrics: ServerMetricsOptions

    @Option(help: "fitted (probes placed by a fitted attainment curve) or bisect (the reference's bisection).")
    var strategy = SearchSettings().strategy
    @Option(help: "First probe's rate, requests per second.")
    var startRate = SearchSettings().startRate
    @Option(help: "At most this many probes.")
    var probeBudget = SearchSettings().probeBudget
    @Option(help: "Stop when (ci_high - ci_low) / max_qps is at most this.")
    var relativeCiWidth = SearchSettings().relativeCIWidth
    @Option(help: "Requests planned in the window of a probe near capacity (default: enough for the percentile, 1000 for a P99).")
    var requests: Int?
    @Option(help: "Requests planned in the window of a bracketing probe (default: a quarter of --requests).")
    var bracketRequests: Int?
    @Option(help: "A probe near capacity lasts at least this long, seconds (default: as long as its requests take).")
    var duration: Double?
    @Option(help: "Excluded start of each probe, seconds.")
    var warmup = ProbeWindow().warmupS
    @Option(help: "Requests a probe's window must hold at least.")
    var minRequests = ValidityRules().minRequests

    @Option(help: "Per-request fluidity-index the percentile must reach.")
    var fluidityTarget = SLODefaults.fluidityTarget
    @Option(help: "Percentile of requests that must reach it (99: P99 fluidity-index).")
    var percentile = SLODefaults.percentile
    @Option(help: "Per-token deadline D_d, seconds.")
    var tbtDeadline = SLODefaults.tbtDeadlineS
    @Option(help: "A fixed first-token deadline D_p, seconds (instead of a prefill model).")
    var ttftDeadline: Double?
    @Option(help: "A prefill model (JSON of `metron profile`) for D_p = prefill(P) + slack.")
    var prefillModel: String?
    @Option(help: "Slack added to the prefill model's prediction, seconds.")
    var ttftSlack = SLODefaults.firstTokenSlackS
    @Option(help: FluidityTokens.help)
    var fluidityTokens = SLODefaults.fluidityTokens
    @Option(help: "Largest error rate a passing probe may have.")
    var maxErrorRate = SLODefaults.maxErrorRate

    @Flag(help: "Measure the simulator in virtual time (results go to NAME-simulated and are marked SIMULATED).")
    var simulate = false
    @Flag(help: "Empty the server's prefix cache before every probe (POST /reset_prefix_cache or /flush_cache).")
    var resetPrefixCache = false
    @OptionGroup var priority: RealtimeOptions
    @OptionGroup var launching: LauncherOptions
    @Option(help: "Directory for results.")
    var results = "results"
    @Option(help: "Name of this search's results directory.")
    var searchName = "search"

    func validate() throws {
        guard startRate > 0, probeBudget >= 2, relativeCiWidth > 0, (duration ?? 1) > 0, warmup >= 0, minRequests >= 1,
              (requests ?? 1) >= 1, (bracketRequests ?? 1) >= 1 else {
            throw ValidationError("--start-rate, --relative-ci-width and --duration must be positive, --warmup >= 0, --probe-budget >= 2, "
                + "--min-requests, --requests and --bracket-requests >= 1")
        }
        guard fluidityTarget > 0, fluidityTarget <= 1 else { throw ValidationError("--fluidity-target must be in (0, 1], got \(fluidityTarget)") }
        guard percentile > 0, percentile < 100 else { throw ValidationError("--percentile must be between 0 and 100, got \(percentile)") }
        guard tbtDeadline > 0 else { throw ValidationError("--tbt-deadline must be positive, got \(tbtDeadline)") }
        if let d = ttftDeadline, !(d > 0) { throw ValidationError("--ttft-deadline must be positive, got \(d)") }
        if ttftDeadline != nil, prefillModel != nil { throw ValidationError("give either --ttft-deadline or --prefill-model, not both") }
        guard ttftSlack >= 0, (0...1).contains(maxErrorRate) else { throw ValidationError("--ttft-slack must be >= 0 and --max-error-rate in 0...1") }
        if let prefillModel, !FileManager.default.isReadableFile(atPath: prefillModel) {
            throw ValidationError("--prefill-model \(prefillModel): no such file or not readable")
        }
        try launching.check(simulate: simulate)
    }

    func run() async throws {
        let system = try system.system()
        var search = SearchSettings()
        search.strategy = strategy
        search.startRate = startRate
        search.probeBudget = probeBudget
        search.relativeCIWidth = relativeCiWidth
        // One system has no neighbour in a ranking to be paired with.
        search.pairedPlans = 0
        var probe = ProbeWindow()
        probe.requests = requests
        probe.bracketRequests = bracketRequests
        probe.durationS = duration
        probe.warmupS = warmup
        probe.resetPrefixCache = resetPrefixCache ? true : nil
        serverMetrics.apply(to: &probe)
        var validity = ValidityRules()
        validity.minRequests = minRequests
        let slo = SLOSpec(
            name: "p\(trimmed(percentile))-fluidity", kind: .fluidity(percentile: percentile, target: fluidityTarget),
            ttftDeadline: ttftDeadline.map(FirstTokenDeadlineRule.fixed) ?? .perSystem(slackS: ttftSlack), tbtDeadlineS: tbtDeadline,
            maxErrorRate: maxErrorRate, fluidityTokens: fluidityTokens)
        let fix: String
        if case .simulator = system.kind { fix = "--sim-reasoning-tokens (a reasoning simulator streams over the chat API)" } else { fix = "--api chat" }
        if let problem = fluidityTokens.problem(on: system.api, fix: fix) { throw ValidationError(problem) }
        let spec = try workload.spec()
        if spec.sessions != nil, case let .server(server) = system.kind, server.api != .chat {
            throw ValidationError("--turns: a session's turns carry the conversation as chat messages; add --api chat")
        }
        let sweep = SweepFile(
            name: searchName, systems: [system], workloads: [WorkloadEntry(name: "workload", spec: spec)], slos: [slo],
            search: search, probe: probe.resolved(forLevel: slo.kind.attainmentLevel), validity: validity)
        let prefill = try prefillModel.map { try PrefillModel.load(from: URL(fileURLWithPath: $0)) }
        let (searches, layout) = try await measureSweep(
            sweep, mode: simulate ? .virtual : .http(LoadOptions(realtime: priority.mode)), results: results, prefill: prefill,
            fleet: try launching.fleet(results: results))
        for s in searches {
            print(s.result.summaryText)
            print(s.result.probeTable)
            print("wrote \(layout.search(system: s.system.name, workload: s.workload, slo: s.slo).path)/capacity.json")
        }
    }

    private func trimmed(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
}
