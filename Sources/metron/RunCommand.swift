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

    @Option(help: "Results directory (created if missing).")
    var out: String

    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var serverMetrics: ServerMetricsOptions

    @Option(help: "API: completions or chat.")
    var api: APIKind = .completions

    @Option(help: "Cap on requests in flight (default: none, a true open loop); reported in the summary.")
    var maxInFlight: Int?

    @Option(help: "Connect timeout per request, seconds.")
    var connectTimeout: Double = 10

    @Option(help: "Timeout from send to the first content chunk, seconds.")
    var firstTokenTimeout: Double = 120

    @Option(help: "Total timeout per request, seconds.")
    var timeout: Double = 600

    @Option(help: "How long open requests may finish after the last send, seconds (default: --timeout plus 1).")
    var drainTimeout: Double?

    @Option(help: "Seconds of load before the measurement; its requests are recorded but not summarised.")
    var warmup: Double = 0

    @Option(help: "First-token deadline D_p for the fluidity-index, seconds.")
    var ttftDeadline: Double = 0.3

    @Option(help: "Per-token deadline D_d for the fluidity-index, seconds.")
    var tbtDeadline: Double = 0.03

    @Option(help: "p99 client lag or timer lateness above which the run is flagged untrustworthy, seconds.")
    var lagThreshold: Double = RunSummary.defaultLagThreshold

    @OptionGroup var request: ServerRequestOptions

    @Option(help: "Server tokens per corpus word; skips the prompt calibration against the server.")
    var tokensPerWord: Double?

    @Flag(help: "Ask for real-time (SCHED_FIFO) priority for the engine thread.")
    var realtime = false

    func validate() throws {
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number, got \(rate)") }
        if rate == nil, workload.arrival != .trace { throw ValidationError("--rate is required (except with --arrival trace)") }
        if rate != nil, workload.arrival == .trace {
            throw ValidationError("--rate does not apply to --arrival trace: the arrivals are the trace's arrived_at times")
        }
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be positive, got \(duration)") }
        guard warmup >= 0, warmup.isFinite else { throw ValidationError("--warmup must be zero or more seconds, got \(warmup)") }
        guard ttftDeadline > 0, tbtDeadline > 0 else { throw ValidationError("--ttft-deadline and --tbt-deadline must be positive") }
        guard lagThreshold > 0 else { throw ValidationError("--lag-threshold must be positive, got \(lagThreshold)") }
        if let tokensPerWord, !(tokensPerWord > 0 && tokensPerWord.isFinite) {
            throw ValidationError("--tokens-per-word must be positive, got \(tokensPerWord)")
        }
        if out.isEmpty { throw ValidationError("--out must name a directory") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ValidationError("--out \(out) is a file, not a directory") }
            if FileManager.default.fileExists(atPath: out + "/" + RunDirectory.recordsFile) {
                throw ValidationError("--out \(out) already holds a run (\(RunDirectory.recordsFile)); choose another directory")
            }
        }
        do {
            try request.target(url: url, api: api, model: model, apiKey: nil).validate()
            try request.shape.validate()
            try options.validate()
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
        let directory = URL(fileURLWithPath: out, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("--out \(out): cannot create the directory: \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: out) else {
            throw ValidationError("--out \(out): the directory is not writable")
        }

        let calibration: String
        let prompts: PromptBuilder
        if let tokensPerWord {
            prompts = PromptBuilder(tokensPerWord: tokensPerWord)
            calibration = "given: --tokens-per-word \(tokensPerWord)"
        } else {
            let measuredCalibration = try PromptCalibration.measure(target: target, shape: request.shape, timeout: timeout)
            prompts = measuredCalibration.builder
            calibration = "\(measuredCalibration.method.rawValue): " + measuredCalibration.samples
                .map { "\($0[0]) words = \($0[1]) tokens" }.joined(separator: ", ")
        }
        log("metron run: \(plan.count) requests over \(format(measured)) s to \(target); prompt calibration \(calibration)")

        let generator = LoadGenerator(target: target, shape: request.shape, prompts: prompts, options: options)
        let terminal = isatty(STDOUT_FILENO) == 1
        let startedDate = Date()
        var settings = RunSettings(
            url: url, api: api.rawValue, model: model, targetRate: rate ?? Double(plan.count) / measured,
            durationS: duration, warmupS: warmup, seed: workload.seed, workload: workload.summary, maxInFlight: maxInFlight,
            timeouts: ["connect_s": connectTimeout, "first_token_s": firstTokenTimeout, "total_s": timeout],
            drainTimeoutS: drainTimeout ?? timeout + 1, ttftDeadlineS: ttftDeadline, tbtDeadlineS: tbtDeadline,
            lagThresholdS: lagThreshold, promptCalibration: calibration, tokensPerWord: prompts.tokensPerWord,
            overheadTokens: prompts.overheadTokens, realtime: realtime,
            headerNames: request.headers.map { String($0.prefix { $0 != ":" }) },
            startedAt: ISO8601DateFormatter().string(from: startedDate), timerLatenessS: [])
        // Settings first and records as they finish: a run killed midway still has a readable directory.
        try RunDirectory.writeSettings(settings, to: directory)
        let records = try RecordsFileWriter(creating: RunDirectory.recordsURL(in: directory))
        let progress: (@Sendable (LoadProgress) -> Void)? = terminal ? Self.printProgress : nil
        // Ctrl-C ends the run early; open and unsent requests are recorded as cancelled.
        let ((result, scrapes), interrupted) = try await cancellingOnInterrupt(
            message: "interrupted: ending the run, open requests are recorded as cancelled"
        ) {
            try await generator.run(
                plan: plan, scraping: serverMetrics.scrape(for: target), onProgress: progress, onRecords: records.append)
        }
        records.close()
        if terminal { print("") }
        if let warning = result.realtimeWarning { log("warning: \(warning)") }
        if let failure = records.failure {
            throw ValidationError("\(out)/\(RunDirectory.recordsFile): \(failure) (\(records.written) records written)")
        }

        settings.timerLatenessS = result.timerLateness
        settings.runStartMonotonicS = result.runStartMonotonic
        settings.provenance = provenance(of: result, startedAt: startedDate, target: target)
        try RunDirectory.writeSettings(settings, to: directory)
        let summary = try settings.summary(ofRecordsIn: records.url, onWarning: { log("warning: \($0)") })
        try RunDirectory.writeSummary(summary, to: directory)
        let serverLines = try scrapes.map { scrapes in
            var firstTokens: [ClientFirstToken] = []
            try RecordsFile.forEach(records.url) { if let token = ClientFirstToken($0) { firstTokens.append(token) } }
            return try ServerMetricsOptions.write(scrapes, firstTokens: firstTokens, summary: summary, windowStartS: warmup,
                                                  windowEndS: measured, to: directory)
        } ?? []
        print(SummaryText.render(summary))
        serverLines.forEach { print($0) }
        print("wrote \(out)/\(RunDirectory.recordsFile), \(RunDirectory.summaryFile), \(RunDirectory.settingsFile)")
        if interrupted { throw ExitCode(130) }
    }

    /// One line, rewritten in place on a terminal.
    @Sendable static func printProgress(_ p: LoadProgress) {
        let line = String(format: "\r  %6.1f s  sent %d/%d  finished %d  in flight %d   ", p.elapsed, p.sent, p.planned,
                          p.finished, p.inFlight)
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    private var options: LoadOptions {
        LoadOptions(timeouts: RequestTimeouts(connect: connectTimeout, firstToken: firstTokenTimeout, total: timeout),
                    maxInFlight: maxInFlight, drainTimeout: drainTimeout, realtime: realtime)
    }

    private func format(_ v: Double) -> String { String(format: "%g", v) }
}

extension APIKind: ExpressibleByArgument {}

extension RunCommand {
    /// The run's provenance, with the engine's own timer lateness before the run and whether it got
    /// real-time priority; the server is asked about itself after the load, so as not to delay it.
    func provenance(of result: LoadResult, startedAt: Date, target: ServerTarget) -> Provenance {
        let loadEnded = Date()
        let client = ClientSurvey.host(realtimeRequested: realtime, realtimeGranted: realtime && result.realtimeWarning == nil)
        return invocationProvenance(
            startedAt: startedAt, client: client, timerLateness: result.calibrationLateness,
            servers: [ServerSurvey.describe(system: "server", target: target)]
        ).ended(at: loadEnded)
    }
}
