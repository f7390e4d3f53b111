import ArgumentParser
import Foundation
import MetronModel
import MetronLoad
import MetronReport
import MetronSweep

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Send an open-loop streaming load to an OpenAI-compatible server and record every request.",
        discussion: """
            Arrivals are planned before the run and each request is sent at its scheduled time whatever \
            the server does. Writes DIR/run.json (settings, no secrets) first, appends each request's \
            record to DIR/requests.jsonl as it finishes, and writes DIR/summary.json at the end. Failures \
            of the server are recorded, not fatal.
            """)

    @Option(help: "Server URL: http://host:port, .../v1, or the full endpoint URL.")
    var url: String

    @Option(help: "Model name sent in every request.")
    var model: String

    @Option(help: "Target request rate, requests per second (not with --arrival trace).")
    var rate: Double?

    @Option(help: "Seconds of measured load (after the warm-up).")
    var duration: Double

    @OptionGroup var output: RunOutputOptions
    @OptionGroup var sharding: ShardOptions

    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var serverMetrics: ServerMetricsOptions

    @Option(help: "API: completions or chat.")
    var api: APIKind = .completions

    @Option(help: "Cap on requests in flight (default: none, a true open loop); reported in the summary.")
    var maxInFlight: Int?

    @OptionGroup var timeouts: RequestTimeoutOptions

    @Option(help: "Seconds of load before the measurement; its requests are recorded but not summarised.")
    var warmup: Double = 0

    @Option(help: "First-token deadline D_p for the fluidity-index, seconds.")
    var ttftDeadline = SLODefaults.firstTokenSlackS

    @Option(help: "Per-token deadline D_d for the fluidity-index, seconds.")
    var tbtDeadline = SLODefaults.tbtDeadlineS

    @Option(help: FluidityTokens.help)
    var fluidityTokens = SLODefaults.fluidityTokens

    @Option(help: "p99 client lag or timer lateness above which the run is flagged untrustworthy, seconds.")
    var lagThreshold: Double = RunSummary.defaultLagThreshold

    @OptionGroup var request: ServerRequestOptions

    @Option(help: "Server tokens per corpus word; skips the prompt calibration against the server.")
    var tokensPerWord: Double?

    @OptionGroup var priority: RealtimeOptions

    func validate() throws {
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number, got \(rate)") }
        if rate == nil, workload.arrival != .trace { throw ValidationError("--rate is required (except with --arrival trace)") }
        if rate != nil, workload.arrival == .trace {
            throw ValidationError("--rate does not apply to --arrival trace: the arrivals are the trace's arrived_at times")
        }
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be positive, got \(duration)") }
        guard warmup >= 0, warmup.isFinite else { throw ValidationError("--warmup must be zero or more seconds, got \(warmup)") }
        guard ttftDeadline > 0, tbtDeadline > 0 else { throw ValidationError("--ttft-deadline and --tbt-deadline must be positive") }
        if let problem = fluidityTokens.problem(on: api) { throw ValidationError(problem) }
        if workload.turns != nil, api != .chat {
            throw ValidationError("--turns: a session's turns carry the conversation as chat messages; add --api chat")
        }
        guard lagThreshold > 0 else { throw ValidationError("--lag-threshold must be positive, got \(lagThreshold)") }
        if let tokensPerWord, !(tokensPerWord > 0 && tokensPerWord.isFinite) {
            throw ValidationError("--tokens-per-word must be positive, got \(tokensPerWord)")
        }
        do {
            try request.target(url: url, api: api, model: model, apiKey: nil).validate()
            try request.shape.validate()
            try timeouts.loadOptions(maxInFlight: maxInFlight, realtime: priority.mode).validate()
        } catch let error as LoadConfigurationError {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let target = request.target(url: url, api: api, model: model, apiKey: try request.apiKey())
        let spec = try workload.spec()
        let measured = warmup + duration
        // A trace replays at its own pace unless a rate is asked for.
        let planRate = rate ?? spec.arrival.traceRate ?? 1
        let plan: [PlannedRequest]
        do { plan = try spec.plan(rate: planRate, duration: measured) } catch { throw ValidationError("\(error)") }
        guard !plan.isEmpty else { throw ValidationError("the workload plans no request in \(measured) s") }

        // Made before the load, so a directory that cannot be written fails first, not after the run.
        let out = try output.createDirectory()

        let calibration: String
        let prompts: PromptBuilder
        if let tokensPerWord {
            prompts = PromptBuilder(tokensPerWord: tokensPerWord)
            calibration = "given: --tokens-per-word \(tokensPerWord)"
        } else {
            let measuredCalibration = try PromptCalibration.measure(target: target, shape: request.shape, timeout: timeouts.timeout)
            prompts = measuredCalibration.builder
            calibration = measuredCalibration.summary
        }
        // After the calibration, so that no shard spends the time to its agreed start calibrating.
        let (share, directory, shard) = try await sharding.apply(to: plan, out: out, log: log)
        log("metron run: \(share.count) requests over \(format(measured)) s to \(target); prompt calibration \(calibration)")

        var settings = RunSettings(
            url: url, api: api.rawValue, model: model, targetRate: (rate ?? Double(plan.count) / measured) / Double(shard?.count ?? 1),
            durationS: duration, warmupS: warmup, seed: workload.seed, workload: workload.summary, maxInFlight: maxInFlight,
            timeouts: timeouts.timeouts.record, drainTimeoutS: timeouts.drainTimeoutS, ttftDeadlineS: ttftDeadline, tbtDeadlineS: tbtDeadline,
            lagThresholdS: lagThreshold, promptCalibration: calibration, tokensPerWord: prompts.tokensPerWord,
            overheadTokens: prompts.overheadTokens, realtime: priority.mode != .off,
            headerNames: target.headerNames, startedAt: "", timerLatenessS: [])
        settings.shard = shard
        settings.fluidityTokens = fluidityTokens.recorded
        var options = timeouts.loadOptions(maxInFlight: maxInFlight, realtime: priority.mode)
        options.startAt = shard?.startAtS
        let run = RecordedRun(
            generator: LoadGenerator(target: target, shape: request.shape, prompts: prompts, options: options), plan: share,
            settings: settings, directory: directory, scrape: serverMetrics.scrape(for: target), windowStartS: warmup,
            windowEndS: measured)
        let terminal = isatty(STDOUT_FILENO) == 1
        let outcome: RecordedRun.Outcome
        do {
            outcome = try await run.execute(progress: terminal ? ProgressLine.printRunProgress : nil, log: log,
                                            afterLoad: { if terminal { print("") } })
        } catch let failure as RecordedRun.RecordsFailure {
            throw ValidationError("\(directory.path)/\(RunDirectory.recordsFile): \(failure.reason) (\(failure.written) records written)")
        }
        print(SummaryText.render(outcome.summary))
        outcome.serverLines.forEach { print($0) }
        print("wrote \(shard == nil ? output.out : directory.path)/\(RunDirectory.recordsFile), \(RunDirectory.summaryFile), \(RunDirectory.settingsFile)")
        if outcome.interrupted { throw ExitCode(130) }
    }

    private func format(_ v: Double) -> String { String(format: "%g", v) }
}

extension APIKind: ExpressibleByArgument {}
extension FluidityTokens: ExpressibleByArgument {
    static let help = ArgumentHelp(
        "Tokens the fluidity-index counts: all (every streamed token, reasoning included, from the arrival) or visible "
            + "(answer tokens only, the clock starting at the first; needs the chat API).")

    /// Why this view cannot be asked for on `api`, or nil; `fix` names the flag that would allow it.
    func problem(on api: APIKind, fix: String = "--api chat") -> String? {
        guard self == .visible, !api.separatesReasoning else { return nil }
        return "--fluidity-tokens visible needs \(fix): the \(api.rawValue) API does not stream reasoning apart from "
            + "the answer, so every token would count as visible"
    }
}
