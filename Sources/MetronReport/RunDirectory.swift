import Foundation
import MetronModel

/// The settings of one load run, saved as `run.json` next to its records. Holds no secrets: API
/// keys and header values are never written.
public struct RunSettings: Codable, Sendable, Equatable {
    public var url: String
    public var api: String
    public var model: String
    public var targetRate: Double?
    public var durationS: Double
    /// Requests scheduled before this offset are recorded but left out of the summary.
    public var warmupS: Double
    public var seed: UInt64
    public var workload: String
    public var maxInFlight: Int?
    public var timeouts: [String: Double]
    public var drainTimeoutS: Double
    public var ttftDeadlineS: Double
    public var tbtDeadlineS: Double
    /// The tokens the fluidity-index counts; nil for every token (the default, and runs recorded
    /// before the choice existed).
    public var fluidityTokens: FluidityTokens?
    public var lagThresholdS: Double
    public var promptCalibration: String
    public var tokensPerWord: Double
    public var overheadTokens: Double
    public var realtime: Bool
    /// Header names only (values may be secrets).
    public var headerNames: [String]
    public var startedAt: String
    /// Every timer-lateness sample of the run (calibration first), seconds.
    public var timerLatenessS: [Double]
    /// CLOCK_MONOTONIC seconds of the records' time 0 (to compare with a server's own send log).
    public var runStartMonotonicS: Double?
    /// Which Metron ran, with which command, on which client, against which server build.
    public var provenance: Provenance?
    /// Set when this run is one shard of a plan split across client processes.
    public var shard: ShardRecord?
    /// Set when this run was merged from shards (`metron merge`): each shard's record.
    public var merged: [ShardRecord]?

    public init(
        url: String, api: String, model: String, targetRate: Double?, durationS: Double, warmupS: Double, seed: UInt64,
        workload: String, maxInFlight: Int?, timeouts: [String: Double], drainTimeoutS: Double, ttftDeadlineS: Double,
        tbtDeadlineS: Double, lagThresholdS: Double, promptCalibration: String, tokensPerWord: Double,
        overheadTokens: Double, realtime: Bool, headerNames: [String], startedAt: String, timerLatenessS: [Double],
        runStartMonotonicS: Double? = nil
    ) {
        self.runStartMonotonicS = runStartMonotonicS
        self.url = RunSettings.withoutCredentials(url)
        self.api = api
        self.model = model
        self.targetRate = targetRate
        self.durationS = durationS
        self.warmupS = warmupS
        self.seed = seed
        self.workload = workload
        self.maxInFlight = maxInFlight
        self.timeouts = timeouts
        self.drainTimeoutS = drainTimeoutS
        self.ttftDeadlineS = ttftDeadlineS
        self.tbtDeadlineS = tbtDeadlineS
        self.lagThresholdS = lagThresholdS
        self.promptCalibration = promptCalibration
        self.tokensPerWord = tokensPerWord
        self.overheadTokens = overheadTokens
        self.realtime = realtime
        self.headerNames = headerNames
        self.startedAt = startedAt
        self.timerLatenessS = timerLatenessS
    }

    enum CodingKeys: String, CodingKey {
        case url, api, model, seed, workload, timeouts, realtime
        case targetRate = "target_rate", durationS = "duration_s", warmupS = "warmup_s"
        case maxInFlight = "max_in_flight", drainTimeoutS = "drain_timeout_s", ttftDeadlineS = "ttft_deadline_s"
        case tbtDeadlineS = "tbt_deadline_s", fluidityTokens = "fluidity_tokens", lagThresholdS = "lag_threshold_s"
        case promptCalibration = "prompt_calibration", tokensPerWord = "tokens_per_word"
        case overheadTokens = "overhead_tokens", headerNames = "header_names", startedAt = "started_at"
        case timerLatenessS = "timer_lateness_s", runStartMonotonicS = "run_start_monotonic_s", provenance, shard, merged
    }

    /// A URL with any `user:password@` removed.
    static func withoutCredentials(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil
        else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }

    /// The summary of records under these settings: warm-up requests are left out.
    public func summary(of records: [RequestRecord]) -> RunSummary {
        summary(forEachRecord: { visit in records.forEach(visit) })
    }

    /// The same summary streamed from a records file (read twice, never held in memory); warnings
    /// of the reader (an incomplete last line) are passed on once.
    public func summary(ofRecordsIn file: URL, onWarning: (String) -> Void = { _ in }) throws -> RunSummary {
        let warmup = warmupS, deadlines = deadlines
        return try withoutActuallyEscaping(onWarning) { warn in
            try RunSummary(
                firstPass: { visit in
                    try RecordsFile.forEach(
                        file, onWarning: warn, prepare: { $0.scheduledS >= warmup ? RecordFigures($0, deadlines: deadlines) : nil },
                        visit)
                },
                secondPass: { filter, visit in
                    try RecordsFile.forEach(file, prepare: { $0.scheduledS >= warmup ? filter.kept(in: $0) : nil }, visit)
                },
                targetRate: targetRate, deadlines: deadlines, timerLateness: timerLatenessS, lagThreshold: lagThresholdS,
                maxInFlight: maxInFlight)
        }
    }

    private var deadlines: FluidityDeadlines {
        FluidityDeadlines(ttft: .fixed(ttftDeadlineS), tbt: tbtDeadlineS, tokens: fluidityTokens ?? SLODefaults.fluidityTokens)
    }

    private func summary(forEachRecord: ((RequestRecord) -> Void) throws -> Void) rethrows -> RunSummary {
        try RunSummary(
            forEachRecord: { visit in
                try withoutActuallyEscaping(visit) { visit in
                    try forEachRecord { if $0.scheduledS >= warmupS { visit($0) } }
                }
            },
            targetRate: targetRate, deadlines: deadlines,
            timerLateness: timerLatenessS, lagThreshold: lagThresholdS, maxInFlight: maxInFlight)
    }
}

/// One shard of a run (`metron run --shard`), as `metron merge` checks it against the others.
public struct ShardRecord: Codable, Sendable, Equatable {
    public var index: Int
    public var count: Int
    /// Requests of the whole plan and its fingerprint (`Shard.fingerprint`): the same in every shard.
    public var planRequests: Int
    public var planFingerprint: String
    /// The agreed time 0 of every shard, wall-clock Unix seconds.
    public var startAtS: Double
    /// This shard's time 0 on its own wall clock; nil until the load has begun.
    public var runStartWallClockS: Double?
    /// The kernel's bound on this machine's wall-clock error, seconds; nil when no NTP or PTP daemon
    /// synchronises the clock.
    public var clockMaxErrorS: Double?

    public init(shard: Shard, planRequests: Int, planFingerprint: String, startAtS: Double) {
        index = shard.index
        count = shard.count
        self.planRequests = planRequests
        self.planFingerprint = planFingerprint
        self.startAtS = startAtS
    }

    enum CodingKeys: String, CodingKey {
        case index, count
        case planRequests = "plan_requests", planFingerprint = "plan_fingerprint", startAtS = "start_at_s"
        case runStartWallClockS = "run_start_wall_clock_s", clockMaxErrorS = "clock_max_error_s"
    }
}

/// One run's results on disk: `requests.jsonl` (one record per line, appended as requests finish),
/// `summary.json` and `run.json` (written at the start and again at the end). Those two are written
/// to a temporary name and renamed, so a reader never sees half of either.
public enum RunDirectory {
    public static let recordsFile = RecordsFile.name
    public static let summaryFile = "summary.json"
    public static let settingsFile = "run.json"

    public static func write(records: [RequestRecord], summary: RunSummary, settings: RunSettings, to directory: URL) throws {
        try RecordsFile.write(records, to: recordsURL(in: directory))
        try writeSettings(settings, to: directory)
        try writeSummary(summary, to: directory)
    }

    public static func writeSettings(_ settings: RunSettings, to directory: URL) throws {
        try AtomicWrite.json(settings, to: directory.appendingPathComponent(settingsFile))
    }

    public static func writeSummary(_ summary: RunSummary, to directory: URL) throws {
        try AtomicWrite.json(summary, to: directory.appendingPathComponent(summaryFile))
    }

    public static func recordsURL(in directory: URL) -> URL { directory.appendingPathComponent(recordsFile) }

    public static func summaryJSON(_ summary: RunSummary) throws -> String {
        String(decoding: try JSON.encode(summary), as: UTF8.self)
    }

    /// Every record in memory, sorted by request id.
    public static func readRecords(from directory: URL, onWarning: (String) -> Void = { _ in }) throws -> [RequestRecord] {
        try RecordsFile.read(recordsURL(in: directory), onWarning: onWarning).sorted { $0.id < $1.id }
    }

    public static func readSettings(from directory: URL) throws -> RunSettings {
        try JSON.decode(RunSettings.self, from: directory.appendingPathComponent(settingsFile))
    }
}
