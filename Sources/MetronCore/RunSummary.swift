import MetronStats

/// Fluidity-index figures over requests (a failed request counts as 0).
public struct FluiditySummary: Codable, Sendable, Equatable {
    /// 1st percentile of per-request fluidity: "P99 fluidity-index".
    public var p1: Double?
    public var p50: Double?
    public var mean: Double?
    /// Service-level deadline-miss rate: all missed over all deadlines of successful requests.
    public var serviceMissRate: Double
    public var ttftDeadline: String
    public var tbtDeadlineS: Double

    enum CodingKeys: String, CodingKey {
        case p1, p50, mean
        case serviceMissRate = "service_miss_rate", ttftDeadline = "ttft_deadline", tbtDeadlineS = "tbt_deadline_s"
    }
}

/// The client's own health: how late it sent requests against the plan, and how late its timer woke.
public struct ClientHealth: Codable, Sendable, Equatable {
    /// Send time minus scheduled time, seconds.
    public var lag: Distribution
    /// Timer wake-up lateness measured by the engine before and during the run, seconds.
    public var timerLateness: Distribution?
    /// Lag above which the run is not trustworthy, seconds.
    public var lagThresholdS: Double
    public var trustworthy: Bool
    /// Set when the user capped requests in flight; a capped run is not open loop.
    public var maxInFlight: Int?

    enum CodingKeys: String, CodingKey {
        case lag, trustworthy
        case timerLateness = "timer_lateness", lagThresholdS = "lag_threshold_s", maxInFlight = "max_in_flight"
    }
}

/// What a run measured, computed from raw records alone.
public struct RunSummary: Codable, Sendable, Equatable {
    public var targetRate: Double?
    /// Requests per second of the plan itself (a Poisson plan deviates from its target by chance).
    public var offeredRate: Double?
    /// Requests per second actually handed to the network.
    public var achievedRate: Double?
    public var durationS: Double
    public var requests: Int
    public var ok: Int
    public var errors: [String: Int]
    public var errorRate: Double
    public var ttft: Distribution
    /// Token-level time between tokens (zeros of multi-token chunks included).
    public var tbt: Distribution
    public var interChunkLatency: Distribution
    public var tpot: Distribution
    public var e2e: Distribution
    public var normalizedLatency: Distribution
    public var fluidity: FluiditySummary
    public var tokenRates: TokenRates
    public var outputTokensPerS: Double
    public var promptTokens: Distribution
    public var outputTokens: Distribution
    public var client: ClientHealth
    /// Below about 100 requests a P99 is close to the sample's extreme.
    public var percentileWarning: String?

    enum CodingKeys: String, CodingKey {
        case requests, ok, errors, ttft, tbt, tpot, e2e, fluidity, client
        case targetRate = "target_rate", offeredRate = "offered_rate", achievedRate = "achieved_rate"
        case durationS = "duration_s", errorRate = "error_rate", interChunkLatency = "inter_chunk_latency"
        case normalizedLatency = "normalized_latency", tokenRates = "token_rates"
        case outputTokensPerS = "output_tokens_per_s", promptTokens = "prompt_tokens", outputTokens = "output_tokens"
        case percentileWarning = "percentile_warning"
    }

    public static let defaultLagThreshold = 0.010

    public init(
        records: [RequestRecord], targetRate: Double?, deadlines: DeadlineSpec,
        timerLateness: [Double]? = nil, lagThreshold: Double = defaultLagThreshold, maxInFlight: Int? = nil
    ) {
        let okRecords = records.filter(\.succeeded)
        let timelines = okRecords.map(\.timeline)
        self.targetRate = targetRate
        requests = records.count
        ok = okRecords.count
        var errors: [String: Int] = [:]
        for r in records where !r.succeeded { errors[r.status.rawValue, default: 0] += 1 }
        self.errors = errors
        errorRate = records.isEmpty ? 0 : Double(records.count - okRecords.count) / Double(records.count)

        let scheduled = records.map(\.scheduledS).sorted()
        let sent = records.compactMap(\.sentS).sorted()
        offeredRate = Self.rate(scheduled)
        achievedRate = Self.rate(sent)
        let start = scheduled.first ?? 0
        let end = records.map { $0.chunkTimesS.last ?? $0.sentS ?? $0.scheduledS }.max() ?? start
        durationS = end - start

        ttft = Distribution(timelines.compactMap(\.ttft))
        let tbts = timelines.map(\.tokenLevelTBT)
        tbt = Distribution(tbts.flatMap { $0 })
        interChunkLatency = Distribution(timelines.flatMap(\.interChunkLatencies))
        tpot = Distribution(timelines.compactMap(\.tpot))
        e2e = Distribution(timelines.compactMap(\.endToEnd))
        normalizedLatency = Distribution(timelines.compactMap(\.normalizedLatency))
        promptTokens = Distribution(okRecords.compactMap { $0.promptTokens.map(Double.init) })
        outputTokens = Distribution(timelines.map { Double($0.tokenCount) })

        let perRequest = records.map { deadlines.fluidityIndex(of: $0) }.sorted()
        let service = okRecords.compactMap { deadlines.deadlines(of: $0) }.reduce(DeadlineCount(), +)
        fluidity = FluiditySummary(
            p1: Stats.quantile(sorted: perRequest, 0.01), p50: Stats.quantile(sorted: perRequest, 0.5),
            mean: Stats.mean(perRequest), serviceMissRate: service.missRate,
            ttftDeadline: deadlines.ttft.summary, tbtDeadlineS: deadlines.tbt)
        tokenRates = ServiceMetrics.tokenRates(tokenLevelTBTs: tbts)
        let totalOutput = timelines.reduce(0) { $0 + $1.tokenCount }
        outputTokensPerS = durationS > 0 ? Double(totalOutput) / durationS : 0

        let lags = records.compactMap(\.clientLag)
        let lag = Distribution(lags)
        let lateness = timerLateness.map(Distribution.init)
        let worst = max(lag.p99 ?? 0, lateness?.p99 ?? 0)
        client = ClientHealth(
            lag: lag, timerLateness: lateness, lagThresholdS: lagThreshold,
            trustworthy: worst <= lagThreshold, maxInFlight: maxInFlight)
        percentileWarning = records.count < 100
            ? "only \(records.count) requests: P99 and P1 figures are close to the sample's extremes" : nil
    }

    /// Events per second over a sorted list of times: (n - 1) / span.
    static func rate(_ times: [Double]) -> Double? {
        guard times.count >= 2, let first = times.first, let last = times.last, last > first else { return nil }
        return Double(times.count - 1) / (last - first)
    }
}
