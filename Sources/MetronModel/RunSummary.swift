import MetronStats

/// Fluidity-index figures over all requests (a failed request counts as 0), and the service-level
/// miss rate over the successful ones.
public struct FluiditySummary: Codable, Sendable, Equatable {
    /// 1st percentile of per-request fluidity: "P99 fluidity-index".
    public var p1: Double?
    public var p50: Double?
    public var mean: Double?
    /// The requests behind `p1`, `p50` and `mean`: all of them.
    public var requests: Int
    /// Service-level deadline-miss rate: all missed over all deadlines of successful requests.
    public var serviceMissRate: Double
    public var serviceDeadlines: DeadlineCount
    /// The requests behind the service-level figures: the successful ones.
    public var serviceRequests: Int
    public var ttftDeadline: String
    public var tbtDeadlineS: Double
    /// The tokens counted; nil for every token (the default, and summaries written before the choice).
    public var tokens: FluidityTokens?

    enum CodingKeys: String, CodingKey {
        case p1, p50, mean, requests, tokens
        case serviceMissRate = "service_miss_rate", serviceDeadlines = "service_deadlines"
        case serviceRequests = "service_requests"
        case ttftDeadline = "ttft_deadline", tbtDeadlineS = "tbt_deadline_s"
    }
}

/// Reasoning streamed by the successful requests.
public struct ReasoningUse: Codable, Sendable, Equatable {
    /// Successful requests that streamed reasoning tokens.
    public var requests = 0
    public var tokens = 0
    /// Successful requests that ended before any visible token (every token was reasoning).
    public var withoutVisibleOutput = 0

    public init() {}

    mutating func add(reasoningTokens: Int?, visibleOutput: Bool) {
        if let n = reasoningTokens, n > 0 {
            requests += 1
            tokens += n
        }
        if !visibleOutput { withoutVisibleOutput += 1 }
    }

    enum CodingKeys: String, CodingKey {
        case requests, tokens, withoutVisibleOutput = "without_visible_output"
    }
}

/// Requests that failed on the client's side (status `client_error`: no socket, no port, no
/// memory). They say nothing about the server, and any one makes a measurement untrustworthy.
public struct ClientFaults: Codable, Sendable, Equatable {
    public var requests: Int
    /// Requests looked at.
    public var outOf: Int
    /// The most frequent error text of the faulted requests.
    public var commonError: String?
    private var counts: [String: Int] = [:]

    public init() {
        requests = 0
        outOf = 0
    }

    public init(_ records: some Sequence<RequestRecord>) {
        self.init()
        for r in records { add(r) }
    }

    /// Distinct error texts kept for `commonError`; client faults have very few.
    static let textsKept = 32

    public mutating func add(_ record: RequestRecord) {
        add(status: record.status, error: record.error)
    }

    mutating func add(status: RequestStatus, error: String?) {
        outOf += 1
        guard status == .clientError else { return }
        requests += 1
        let text = error ?? "failed in the client"
        if counts[text] != nil || counts.count < Self.textsKept { counts[text, default: 0] += 1 }
        commonError = counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
    }

    /// "client fault: 60 of 95 requests could not open a socket (EMFILE: ...)", nil without faults.
    public var reason: String? {
        guard requests > 0 else { return nil }
        return "client fault: \(requests) of \(outOf) requests \(commonError ?? "failed in the client")"
            + (counts.count > 1 ? " (and other client faults)" : "")
    }

    enum CodingKeys: String, CodingKey {
        case requests, outOf = "out_of", commonError = "common_error"
    }
}

/// The client's own health: how late it sent requests against the plan, how late its timer woke,
/// and whether it failed requests itself.
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
    /// Requests the client failed itself; nil in summaries written before it was recorded.
    public var faults: ClientFaults?
    /// Why the client is not trustworthy, one sentence per cause; empty when it is.
    public var untrustworthyReasons: [String]?

    enum CodingKeys: String, CodingKey {
        case lag, trustworthy, faults
        case timerLateness = "timer_lateness", lagThresholdS = "lag_threshold_s", maxInFlight = "max_in_flight"
        case untrustworthyReasons = "untrustworthy_reasons"
    }
}

extension ClientHealth {
    /// Judged: trustworthy when the P99 of send lag and of timer lateness are within the threshold
    /// and the client failed no request itself.
    public init(lag: Distribution, timerLateness: Distribution?, lagThresholdS: Double, maxInFlight: Int?, faults: ClientFaults) {
        let worst = Swift.max(lag.p99 ?? 0, timerLateness?.p99 ?? 0)
        var reasons: [String] = []
        if worst > lagThresholdS {
            reasons.append(String(format: "P99 client lag or timer lateness %.1f ms above the %.1f ms threshold",
                                  worst * 1000, lagThresholdS * 1000))
        }
        if let fault = faults.reason { reasons.append(fault) }
        self.init(lag: lag, timerLateness: timerLateness, lagThresholdS: lagThresholdS, trustworthy: reasons.isEmpty,
                  maxInFlight: maxInFlight, faults: faults, untrustworthyReasons: reasons)
    }

    /// The health of the client over `records` (a probe's window).
    public init(records: [RequestRecord], timerLatenessS: [Double]?, lagThresholdS: Double, maxInFlight: Int? = nil) {
        self.init(lag: Distribution(records.compactMap(\.clientLag)), timerLateness: timerLatenessS.map(Distribution.init),
                  lagThresholdS: lagThresholdS, maxInFlight: maxInFlight, faults: ClientFaults(records))
    }

    /// The larger P99 of send lag and timer lateness, seconds.
    public var worstS: Double { Swift.max(lag.p99 ?? 0, timerLateness?.p99 ?? 0) }

    /// Requests the client failed itself.
    public var failedRequests: Int { faults?.requests ?? 0 }
}

/// What a run measured, computed from raw records alone. Latencies, token rates, output tokens and
/// the service-level miss rate are over successful requests only; the fluidity percentiles and the
/// error rate are over all requests. Each figure keeps the count it rests on.
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
    /// To the first token of any kind, reasoning included.
    public var ttft: Distribution
    /// Time to first output token: to the first visible token, over the successful requests that had
    /// one; the same as TTFT without reasoning. nil in summaries written before it was reported.
    public var ttfot: Distribution?
    /// Token-level time between tokens (zeros of multi-token chunks included), pooled over requests.
    public var tbt: Distribution
    public var interChunkLatency: Distribution
    /// Over requests of at least two tokens.
    public var tpot: Distribution
    public var e2e: Distribution
    public var normalizedLatency: Distribution
    public var fluidity: FluiditySummary
    public var tokenRates: TokenRates
    /// Output tokens of successful requests per second of the run.
    public var outputTokensPerS: Double
    public var promptTokens: Distribution
    public var outputTokens: Distribution
    /// What the server took from its prefix cache; nil when no request reported cached tokens.
    public var promptCache: PromptCacheUse?
    /// Reasoning streamed; nil when no request streamed any.
    public var reasoning: ReasoningUse?
    /// Multi-turn figures; nil when no request belonged to a session.
    public var sessions: SessionFigures?
    public var client: ClientHealth
    /// Names the tail percentiles that rest on fewer than `fewSamplesForTailPercentile` samples.
    public var percentileWarning: String?

    enum CodingKeys: String, CodingKey {
        case requests, ok, errors, ttft, ttfot, tbt, tpot, e2e, fluidity, client, reasoning, sessions
        case targetRate = "target_rate", offeredRate = "offered_rate", achievedRate = "achieved_rate"
        case durationS = "duration_s", errorRate = "error_rate", interChunkLatency = "inter_chunk_latency"
        case normalizedLatency = "normalized_latency", tokenRates = "token_rates"
        case outputTokensPerS = "output_tokens_per_s", promptTokens = "prompt_tokens", outputTokens = "output_tokens"
        case percentileWarning = "percentile_warning", promptCache = "prompt_cache"
    }

    public static let defaultLagThreshold = 0.010
    /// Below this many samples a P99 (or P1) is close to the sample's extreme.
    public static let fewSamplesForTailPercentile = 100

    public init(
        records: [RequestRecord], targetRate: Double?, deadlines: FluidityDeadlines,
        timerLateness: [Double]? = nil, lagThreshold: Double = defaultLagThreshold, maxInFlight: Int? = nil
    ) {
        self.init(
            forEachRecord: { visit in records.forEach(visit) }, targetRate: targetRate, deadlines: deadlines,
            timerLateness: timerLateness, lagThreshold: lagThreshold, maxInFlight: maxInFlight)
    }

    /// Computes the summary from records streamed twice (for example a file read twice): memory
    /// grows with the number of requests, never with the number of tokens.
    public init(
        forEachRecord: ((RequestRecord) -> Void) throws -> Void, targetRate: Double?, deadlines: FluidityDeadlines,
        timerLateness: [Double]? = nil, lagThreshold: Double = defaultLagThreshold, maxInFlight: Int? = nil
    ) rethrows {
        try self.init(
            firstPass: { visit in
                try withoutActuallyEscaping(visit) { visit in try forEachRecord { visit(RecordFigures($0, deadlines: deadlines)) } }
            },
            secondPass: { filter, visit in
                try withoutActuallyEscaping(visit) { visit in try forEachRecord { visit(filter.kept(in: $0)) } }
            },
            targetRate: targetRate, deadlines: deadlines, timerLateness: timerLateness,
            lagThreshold: lagThreshold, maxInFlight: maxInFlight)
    }

    /// The same summary, with the first pass handed each record's `RecordFigures`, in the records'
    /// order, and the second each record's `KeptGaps` from the filter given, in any order. Both are
    /// pure, so they can be computed on other threads.
    public init(
        firstPass: ((RecordFigures) -> Void) throws -> Void,
        secondPass: (SecondPassFilter, (KeptGaps) -> Void) throws -> Void,
        targetRate: Double?, deadlines: FluidityDeadlines,
        timerLateness: [Double]? = nil, lagThreshold: Double = defaultLagThreshold, maxInFlight: Int? = nil
    ) rethrows {
        // One accumulator, touched once per record: per-token work stays out of captured state.
        var pooled = PooledGaps()
        var perRequest = PerRequestFigures()
        try firstPass { figures in perRequest.add(figures, pooling: &pooled) }
        if let filter = pooled.beginSecondPass() {
            try secondPass(filter) { pooled.add($0) }
        }
        let tbts = pooled.tbt, chunkGaps = pooled.chunk

        let p = perRequest
        self.targetRate = targetRate
        requests = p.count
        ok = p.ok
        errors = p.errors
        errorRate = p.count == 0 ? 0 : Double(p.count - p.ok) / Double(p.count)
        offeredRate = Self.rate(p.scheduled.sorted())
        achievedRate = Self.rate(p.sent.sorted())
        let start = p.scheduled.min() ?? 0
        durationS = Swift.max(0, (p.end.max() ?? start) - start)
        ttft = Distribution(p.ttft)
        ttfot = Distribution(p.ttfot)
        tbt = tbts.distribution
        interChunkLatency = chunkGaps.distribution
        tpot = Distribution(p.tpot)
        e2e = Distribution(p.e2e)
        normalizedLatency = Distribution(p.normalizedLatency)
        promptTokens = Distribution(p.promptTokens)
        outputTokens = Distribution(p.outputTokens)
        promptCache = p.promptCache.requests > 0 ? p.promptCache : nil
        reasoning = p.reasoning.requests > 0 ? p.reasoning : nil
        sessions = p.turns.isEmpty ? nil : SessionFigures(starts: p.sessionStarts.sorted(), turns: p.turns)

        let fluiditySorted = p.fluidity.sorted()
        fluidity = FluiditySummary(
            p1: Stats.quantile(sorted: fluiditySorted, 0.01), p50: Stats.quantile(sorted: fluiditySorted, 0.5),
            mean: Stats.mean(fluiditySorted), requests: fluiditySorted.count,
            serviceMissRate: p.serviceDeadlines.missRate, serviceDeadlines: p.serviceDeadlines, serviceRequests: p.ok,
            ttftDeadline: deadlines.ttft.summary, tbtDeadlineS: deadlines.tbt,
            tokens: deadlines.tokens.recorded)
        tokenRates = ServiceMetrics.tokenRates(
            tpots: p.referenceTPOTs, pooledTBT: (p99: tbt.p99, count: tbt.count), minDeadlines: p.minDeadlines)
        outputTokensPerS = durationS > 0 ? p.outputTokens.reduce(0, +) / durationS : 0

        client = ClientHealth(lag: Distribution(p.lag), timerLateness: timerLateness.map(Distribution.init),
                              lagThresholdS: lagThreshold, maxInFlight: maxInFlight, faults: p.clientFaults)
        percentileWarning = nil
        let few = tailPercentiles.filter { $0.samples > 0 && $0.samples < Self.fewSamplesForTailPercentile }
        if !few.isEmpty {
            percentileWarning = "P99 and P1 over fewer than \(Self.fewSamplesForTailPercentile) samples are close to the "
                + "sample's extremes: " + few.map { "\($0.figure) (\($0.samples))" }.joined(separator: ", ")
        }
    }

    /// The latency distributions, named as reported.
    public var latencies: [(name: String, distribution: Distribution)] {
        [("ttft", ttft)] + (ttfot.map { [("ttfot", $0)] } ?? [])
            + [("tbt", tbt), ("tpot", tpot), ("e2e", e2e), ("norm. lat.", normalizedLatency), ("inter-chunk", interChunkLatency)]
    }

    /// Every figure reported as a tail percentile, with the number of samples behind it.
    public var tailPercentiles: [(figure: String, samples: Int)] {
        latencies.map { ($0.name, $0.distribution.count) }
            + [("fluidity P1", fluidity.requests), ("fluid token rate", tokenRates.requests), ("client lag", client.lag.count)]
            + (client.timerLateness.map { [("timer lateness", $0.count)] } ?? [])
    }

    /// Events per second over a sorted list of times: (n - 1) / span.
    static func rate(_ times: [Double]) -> Double? {
        guard times.count >= 2, let first = times.first, let last = times.last, last > first else { return nil }
        return Double(times.count - 1) / (last - first)
    }
}

/// Prompt tokens the server reported taking from its prefix cache, over the successful requests
/// that reported both counts.
public struct PromptCacheUse: Codable, Sendable, Equatable {
    public var requests: Int
    public var cachedTokens: Int
    public var promptTokens: Int

    public init(requests: Int, cachedTokens: Int, promptTokens: Int) {
        self.requests = requests
        self.cachedTokens = cachedTokens
        self.promptTokens = promptTokens
    }

    public var cachedFraction: Double { promptTokens > 0 ? Double(cachedTokens) / Double(promptTokens) : 0 }

    enum CodingKeys: String, CodingKey {
        case requests, cachedTokens = "cached_tokens", promptTokens = "prompt_tokens"
    }
}

/// What a multi-turn run measured per session and per turn index. A session's rate counts its first
/// turns; the run's `offeredRate` counts every request.
public struct SessionFigures: Codable, Sendable, Equatable {
    /// Sessions whose first turn is among the records.
    public var sessions: Int
    /// Sessions per second of the plan: first turns scheduled, (n - 1) over their span.
    public var offeredRate: Double?
    /// Requests per session: every turn's request over `sessions`.
    public var requestsPerSession: Double?
    /// One entry per turn index, from 0.
    public var turns: [TurnSummary]

    init(starts: [Double], turns: [Int: TurnFigures]) {
        sessions = starts.count
        offeredRate = RunSummary.rate(starts)
        let requests = turns.values.reduce(0) { $0 + $1.count }
        requestsPerSession = starts.isEmpty ? nil : Double(requests) / Double(starts.count)
        self.turns = turns.keys.sorted().map { TurnSummary(turn: $0, turns[$0]!) }
    }

    enum CodingKeys: String, CodingKey {
        case sessions, turns, offeredRate = "offered_rate", requestsPerSession = "requests_per_session"
    }
}

/// The requests of one turn index: latencies over the successful ones, fluidity over all (a failed
/// one counts 0).
public struct TurnSummary: Codable, Sendable, Equatable {
    /// 0 for the first turn.
    public var turn: Int
    public var requests: Int
    public var ok: Int
    public var ttft: Distribution
    public var e2e: Distribution
    public var promptTokens: Distribution
    /// 1st percentile and median of per-request fluidity.
    public var fluidityP1: Double?
    public var fluidityP50: Double?
    /// Cached over prompt tokens where the server reported both; nil where it reported none.
    public var cachedFraction: Double?

    init(turn: Int, _ f: TurnFigures) {
        self.turn = turn
        requests = f.count
        ok = f.ok
        ttft = Distribution(f.ttft)
        e2e = Distribution(f.e2e)
        promptTokens = Distribution(f.promptTokens)
        let sorted = f.fluidity.sorted()
        fluidityP1 = Stats.quantile(sorted: sorted, 0.01)
        fluidityP50 = Stats.quantile(sorted: sorted, 0.5)
        cachedFraction = f.cachedOf > 0 ? Double(f.cachedTokens) / Double(f.cachedOf) : nil
    }

    enum CodingKeys: String, CodingKey {
        case turn, requests, ok, ttft, e2e
        case promptTokens = "prompt_tokens", fluidityP1 = "fluidity_p1", fluidityP50 = "fluidity_p50"
        case cachedFraction = "cached_fraction"
    }
}
