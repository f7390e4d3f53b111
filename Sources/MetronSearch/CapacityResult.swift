import Foundation
import MetronModel
import MetronStats

/// One probe as it appears in `capacity.json`.
public struct ProbeRow: Sendable, Equatable, Codable {
    public var rate: Double
    public var attempt: Int
    /// Set on a probe measured again with the same plan because the client fell behind.
    public var retry: Int?
    /// Set (true) on the fitted search's bracketing probes, which have a shorter window.
    public var bracketing: Bool?
    public var directory: String
    public var achievedRate: Double?
    public var offeredRate: Double?
    public var requests: Int
    /// Sessions opened in the window, for a multi-turn workload (`rate` then counts sessions per second).
    public var sessions: Int?
    /// Fluidity-index at the SLO's percentile (the 1st percentile for "P99 fluidity").
    public var p99Fluidity: Double?
    public var errorRate: Double
    public var errors: [String: Int]
    public var valid: Bool
    public var passed: Bool
    /// The value fitted by the attainment curve (for an invalid probe, at most one request short of the level).
    public var attainment: Double
    public var outputTokensPerS: Double
    public var ttftRiseS: Double?
    public var outstandingAtWindowEnd: Int
    public var outstanding: Int
    public var reasons: [String]
    /// The Metron that measured the probe, from its probe.json (nil for probes recorded before versions were).
    public var metronVersion: String?
    /// The server's view of the window (peak KV cache, waiting peak, preemptions, cache hit rate).
    public var server: ServerView?
    /// The server's TTFT against the client's over the window (docs/REPORT.md).
    public var serverTTFT: ServerTTFTComparison?

    enum CodingKeys: String, CodingKey {
        case rate, attempt, retry, bracketing, directory, requests, sessions, errors, valid, passed, attainment, outstanding, reasons, server
        case metronVersion = "metron_version", serverTTFT = "server_ttft_comparison"
        case achievedRate = "achieved_rate", offeredRate = "offered_rate", p99Fluidity = "p99_fluidity"
        case errorRate = "error_rate", outputTokensPerS = "output_tokens_per_s", ttftRiseS = "ttft_rise_s"
        case outstandingAtWindowEnd = "outstanding_at_window_end"
    }

    /// The probe as it was requested, to find it in the probe cache.
    public var request: ProbeRequest {
        ProbeRequest(rate: rate, attempt: attempt, retry: retry ?? 0, bracketing: bracketing ?? false)
    }

    public init(_ p: ProbeResult) {
        rate = p.rate
        attempt = p.request.attempt
        retry = p.request.retry == 0 ? nil : p.request.retry
        bracketing = p.request.bracketing ? true : nil
        directory = p.request.directoryName
        achievedRate = p.achievedRate
        offeredRate = p.offeredRate
        requests = p.requests
        sessions = p.sessions
        p99Fluidity = p.percentileFluidity
        errorRate = p.errorRate
        errors = p.errors
        valid = p.valid
        passed = p.passed
        attainment = p.attainmentPoint.attainment
        outputTokensPerS = p.outputTokensPerS
        ttftRiseS = p.ttftRiseS
        outstandingAtWindowEnd = p.outstandingAtWindowEnd
        outstanding = p.outstanding
        reasons = p.reasons
        server = p.serverView
        serverTTFT = p.serverTTFT
    }
}

extension SLORecord {
    public init(_ slo: SLO) {
        self.init(name: slo.name, type: slo.kind.typeName, description: slo.summary, attainmentLevel: slo.attainmentLevel,
                  maxErrorRate: slo.maxErrorRate, ttftDeadline: slo.deadlines.ttft.summary, tbtDeadlineS: slo.deadlines.tbt,
                  fluidityTokens: slo.deadlines.tokens.recorded)
    }
}

/// The result of one capacity search: `capacity.json`.
public struct CapacityResult: Sendable, Equatable, Codable {
    /// nil when no probe passed, or when the data do not pin the capacity down (`undetermined`).
    public var maxQPS: Double?
    public var ciLow: Double?
    public var ciHigh: Double?
    public var confidence: Double
    public var intervalMethod: IntervalMethod
    /// Why the capacity is not determined, when it is not: then `ci_low` and `ci_high` are where the
    /// capacity lies at `confidence`, either absent where nothing bounds it on that side.
    public var undetermined: String?
    /// The highest rate that passed, and the lowest above it that failed: single probes, each a noisy
    /// witness, so not a bound on their own.
    public var highestPass: Double?
    public var lowestFailure: Double?
    public var strategy: SearchStrategy
    public var stopReason: StopReason
    public var slo: SLORecord
    public var settings: SearchSettings
    public var validity: ValidityRules
    /// Output tokens per second at `maxQPS`, interpolated between probes.
    public var outputTokensPerS: Double?
    /// For a multi-turn workload, whose rates count sessions per second: requests per session over the
    /// valid probes' windows, so `maxQPS` times it is the capacity in requests per second.
    public var requestsPerSession: Double?
    /// The fitted curve (midpoint, scale, covariance), when there is one.
    public var curve: AttainmentCurve?
    public var probes: [ProbeRow]
    public var simulated: Bool
    public var warnings: [String]
    /// Who measured the search, how and against what (set by the sweep that ran it).
    public var provenance: Provenance?
    /// Set by a sweep: this system against the next one down its ranking, on shared plans.
    public var pairedWithNext: PairedWithNext?

    enum CodingKeys: String, CodingKey {
        case confidence, strategy, slo, settings, validity, curve, probes, simulated, warnings, provenance, undetermined
        case maxQPS = "max_qps", ciLow = "ci_low", ciHigh = "ci_high", intervalMethod = "interval_method"
        case stopReason = "stop_reason", outputTokensPerS = "output_tokens_per_s"
        case requestsPerSession = "requests_per_session"
        case highestPass = "highest_pass", lowestFailure = "lowest_failure", pairedWithNext = "paired_with_next"
    }

    /// What the rates count: "sessions/s" for a multi-turn workload, else "req/s".
    public var rateUnit: String { requestsPerSession == nil && !probes.contains { $0.sessions != nil } ? "req/s" : "sessions/s" }

    init(
        estimate: CapacityEstimate, slo: SLO, settings: SearchSettings, rules: ValidityRules, stopReason: StopReason,
        probes: [ProbeResult], bracket: (pass: Double?, fail: Double?), outputTokensPerS: Double?, warnings: [String]
    ) {
        highestPass = bracket.pass
        lowestFailure = bracket.fail
        undetermined = estimate.undetermined
        maxQPS = estimate.undetermined == nil ? estimate.maxQPS : nil
        ciLow = estimate.ciLow
        ciHigh = estimate.ciHigh
        confidence = settings.confidence
        intervalMethod = estimate.undetermined == nil ? estimate.method : .settledRange
        strategy = settings.strategy
        self.stopReason = stopReason
        self.slo = SLORecord(slo)
        self.settings = settings
        validity = rules
        self.outputTokensPerS = outputTokensPerS
        curve = estimate.curve
        self.probes = probes.map(ProbeRow.init)
        let windows = probes.filter(\.valid).compactMap { p in p.sessions.map { (requests: p.requests, sessions: $0) } }
        let sessions = windows.reduce(0) { $0 + $1.sessions }
        requestsPerSession = sessions > 0 ? Double(windows.reduce(0) { $0 + $1.requests }) / Double(sessions) : nil
        simulated = probes.contains(where: \.simulated)
        self.warnings = warnings
    }
}
