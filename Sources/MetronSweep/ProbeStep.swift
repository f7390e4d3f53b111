import Foundation
import MetronLoad
import MetronModel
import MetronReport

/// One probe sent by several client processes (`--launcher srun --clients N`): the file the searching
/// process writes into the probe's step directory, and what each task of the `srun` step does with
/// it. Each task sends its share of the plan exactly as `metron run --shard` does, into
/// `DIR/shards/I/`, so `ShardMerge` joins them. Secrets (the API key, header values) never go into
/// the file: they reach the tasks through `credentialsVariable`, which srun passes on.
public struct ProbeStep: Codable, Sendable, Equatable {
    static let fileName = "step.json"
    static let credentialsVariable = "METRON_PROBE_CREDENTIALS"
    /// Written by every task: the Slurm step (`JOB.STEP`), so that the searching process can signal it.
    static let slurmStepFile = "slurm-step"

    var clients: Int
    var url: String
    var api: APIKind
    var model: String
    var headerNames: [String]
    var insecure: Bool
    var shape: RequestShape
    var prompts: PromptBuilder
    var timeouts: RequestTimeouts
    var maxInFlight: Int?
    var drainTimeoutS: Double
    var realtime: RealtimeMode
    /// Scraped by task 0 alone, so the server sees one scraper.
    var serverMetrics: MetricsScrapeOptions?
    var rate: Double
    var seed: UInt64
    var windowStartS: Double
    var windowEndS: Double
    var plan: [PlannedRequest]

    enum CodingKeys: String, CodingKey {
        case clients, url, api, model, insecure, shape, prompts, timeouts, realtime, rate, seed, plan
        case headerNames = "header_names", maxInFlight = "max_in_flight", drainTimeoutS = "drain_timeout_s"
        case serverMetrics = "server_metrics", windowStartS = "window_start_s", windowEndS = "window_end_s"
    }

    /// What the tasks need and the file must not hold.
    struct Credentials: Codable {
        var apiKey: String?
        var headers: [String]
        enum CodingKeys: String, CodingKey { case apiKey = "api_key", headers }
    }

    func write(to directory: URL) throws {
        try AtomicWrite.json(self, to: directory.appendingPathComponent(Self.fileName))
    }

    static func read(from directory: URL) throws -> ProbeStep {
        let url = directory.appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ProbeStepError("\(url.path): no such file; a probe step runs in the directory its search wrote "
                + "(every node must see it: a shared filesystem)")
        }
        do { return try JSONDecoder().decode(ProbeStep.self, from: data) } catch {
            throw ProbeStepError("\(url.path): not a probe step (\(error))")
        }
    }

    static func credentials(of target: ServerTarget) throws -> String {
        String(decoding: try JSONEncoder().encode(Credentials(apiKey: target.apiKey, headers: target.headers)), as: UTF8.self)
    }

    /// The task's part of the step in `directory`: its share of the plan, into `shards/I/`. The task's
    /// index is `SLURM_PROCID`; the count is the step file's, so an array job's own index is never taken
    /// for it. Returns whether the task was interrupted.
    public static func runTask(
        in directory: URL, environment: [String: String], log: @escaping @Sendable (String) -> Void
    ) async throws -> Bool {
        let step = try read(from: directory)
        guard let rank = environment["SLURM_PROCID"].flatMap({ Int($0) }) else {
            throw ProbeStepError("SLURM_PROCID is not set: a probe step runs as a task of `srun --ntasks \(step.clients)`")
        }
        let shard: Shard
        do { shard = try Shard(parsing: "\(rank)/\(step.clients)") } catch {
            throw ProbeStepError("SLURM_PROCID \(rank) of \(step.clients) clients: \(error)")
        }
        if let job = environment["SLURM_JOB_ID"], let stepID = environment["SLURM_STEP_ID"] {
            try? Data("\(job).\(stepID)".utf8).write(to: directory.appendingPathComponent(slurmStepFile))
        }
        var credentials = Credentials(apiKey: nil, headers: [])
        if let text = environment[credentialsVariable] {
            // The value may be a secret: the error never repeats it.
            do { credentials = try JSONDecoder().decode(Credentials.self, from: Data(text.utf8)) } catch {
                throw ProbeStepError("\(credentialsVariable) is not what the searching process sets")
            }
        }
        let target = ServerTarget(url: step.url, api: step.api, model: step.model, headers: credentials.headers,
                                  apiKey: credentials.apiKey, insecure: step.insecure)
        let shards = directory.appendingPathComponent("shards")
        let own = shards.appendingPathComponent(String(shard.index))
        try FileManager.default.createDirectory(at: own, withIntermediateDirectories: true)
        let fingerprint = Shard.fingerprint(of: step.plan)
        let start = try await ShardStart(shard: shard, directory: shards, planFingerprint: fingerprint).agree(log: log)
        // The deadlines only fill the task's own summary: the probe is judged by its search's SLO.
        var settings = RunSettings(
            url: step.url, api: step.api.rawValue, model: step.model, targetRate: step.rate / Double(step.clients),
            durationS: step.windowEndS - step.windowStartS, warmupS: step.windowStartS, seed: step.seed,
            workload: "probe at \(step.rate) req/s", maxInFlight: step.maxInFlight,
            timeouts: step.timeouts.record, drainTimeoutS: step.drainTimeoutS, ttftDeadlineS: SLODefaults.firstTokenSlackS, tbtDeadlineS: SLODefaults.tbtDeadlineS,
            lagThresholdS: RunSummary.defaultLagThreshold, promptCalibration: "by the searching process",
            tokensPerWord: step.prompts.tokensPerWord, overheadTokens: step.prompts.overheadTokens, realtime: step.realtime != .off,
            headerNames: step.headerNames, startedAt: "", timerLatenessS: [])
        settings.shard = ShardRecord(shard: shard, planRequests: step.plan.count, planFingerprint: fingerprint, startAtS: start)
        let options = LoadOptions(timeouts: step.timeouts, maxInFlight: step.maxInFlight, drainTimeout: step.drainTimeoutS,
                                  realtime: step.realtime, startAt: start)
        let run = RecordedRun(
            generator: LoadGenerator(target: target, shape: step.shape, prompts: step.prompts, options: options),
            plan: shard.share(of: step.plan), settings: settings, directory: own,
            scrape: shard.index == 0 ? step.serverMetrics : nil, windowStartS: step.windowStartS, windowEndS: step.windowEndS)
        do {
            return try await run.execute(progress: nil, log: log).interrupted
        } catch let failure as RecordedRun.RecordsFailure {
            throw ProbeStepError("\(own.path)/\(RunDirectory.recordsFile): \(failure.reason) (\(failure.written) records written)")
        }
    }
}

extension ProbeStep {
    /// The step of one probe: `plan` sent by `generator`'s settings from `clients` processes.
    init(clients: Int, generator: LoadGenerator, scrape: MetricsScrapeOptions?, rate: Double, seed: UInt64,
         plan: [PlannedRequest], windowStartS: Double, windowEndS: Double) {
        let target = generator.target, options = generator.options
        self.init(
            clients: clients, url: target.url, api: target.api, model: target.model,
            headerNames: target.headerNames, insecure: target.insecure,
            shape: generator.shape, prompts: generator.prompts, timeouts: options.timeouts, maxInFlight: options.maxInFlight,
            drainTimeoutS: options.drainTimeout ?? options.timeouts.total + 1, realtime: options.realtime,
            serverMetrics: scrape, rate: rate, seed: seed, windowStartS: windowStartS, windowEndS: windowEndS, plan: plan)
    }
}

public struct ProbeStepError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
