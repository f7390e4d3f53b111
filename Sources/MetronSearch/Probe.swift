import Foundation
import MetronModel
import MetronStats

/// What one probe measured: the raw records of its measurement window (warm-up excluded) and the
/// window itself, on the run's clock.
public struct ProbeMeasurement: Sendable, Equatable {
    public var request: ProbeRequest
    /// Requests of the run, in any state at its end; those scheduled before the window (warm-up) or
    /// after it are kept for re-analysis but left out of every verdict.
    public var records: [RequestRecord]
    public var windowStartS: Double
    public var windowEndS: Double
    /// The client's timer lateness sampled during the run, seconds.
    public var timerLatenessS: [Double]?
    /// Set when in-flight requests were capped (the run is then not open loop).
    public var maxInFlight: Int?
    /// True when measured in virtual time against the serving model, not a real server.
    public var simulated: Bool
    /// Scrapes of the server's `/metrics` during the run, on the run's clock (nil when not scraped).
    public var serverMetrics: [ServerMetricsSample]?

    public init(
        request: ProbeRequest, records: [RequestRecord], windowStartS: Double, windowEndS: Double,
        timerLatenessS: [Double]? = nil, maxInFlight: Int? = nil, simulated: Bool = false,
        serverMetrics: [ServerMetricsSample]? = nil
    ) {
        self.serverMetrics = serverMetrics
        self.request = request
        self.records = records
        self.windowStartS = windowStartS
        self.windowEndS = windowEndS
        self.timerLatenessS = timerLatenessS
        self.maxInFlight = maxInFlight
        self.simulated = simulated
    }

    /// What the server reported during the measurement window, when it was scraped.
    public var serverView: ServerView? {
        serverMetrics.flatMap { ServerView(samples: $0, windowStartS: windowStartS, windowEndS: windowEndS) }
    }

    /// The server's TTFT histogram against the client's TTFTs over the window, when it exports one.
    public var serverTTFTComparison: ServerTTFTComparison? {
        serverMetrics.flatMap {
            ServerTTFTComparison(records: records, samples: $0, windowStartS: windowStartS, windowEndS: windowEndS)
        }
    }

    /// The requests scheduled inside the measurement window.
    public var windowRecords: [RequestRecord] {
        records.filter { $0.scheduledS >= windowStartS && $0.scheduledS < windowEndS }
    }

    /// Not one request of the window reached the server: it is down, not slow. Such a probe stops the
    /// search instead of counting as a failure, and is never cached.
    public var serverUnreachable: Bool {
        let window = windowRecords
        return !window.isEmpty && window.allSatisfy { $0.status == .connectionError }
    }
}

/// Runs probes. Adapters implement it for the HTTP load generator and the virtual-time serving model;
/// tests use a scripted fake. Failures of the server belong in the records; a thrown error means the
/// probe could not be run at all (for example the server is down) and stops the search.
public protocol ProbeRunner: Sendable {
    func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement
}

/// A probe judged: validity first (an invalid probe counts as over capacity), then the SLO.
public struct ProbeResult: Sendable, Equatable {
    public var request: ProbeRequest
    public var rate: Double { request.rate }
    /// The load the plan offered in the window: requests scheduled in it over its length; with
    /// sessions, the sessions opened from the plan's start to the window's end over that time.
    public var offeredRate: Double?
    /// The client's sending rate over the window: (sent - 1) over the span of send times.
    public var achievedRate: Double?
    public var requests: Int
    /// Sessions opened in the window, for a multi-turn workload; nil without sessions.
    public var sessions: Int?
    public var errorRate: Double
    public var errors: [String: Int]
    /// Per-request fluidity-index, sorted, failed requests as 0.
    public var fluidity: [Double]
    /// Fluidity-index at the SLO's percentile ("P99 fluidity", the 1st percentile).
    public var percentileFluidity: Double?
    /// Which percentile that is (99 for "P99 fluidity").
    public var fluidityPercentile: Double
    public var outputTokensPerS: Double
    public var client: ClientHealth
    /// Slope of TTFT against scheduled time over the window (seconds per second).
    public var ttftSlope: Double?
    /// TTFT growth over the window implied by the slope, seconds.
    public var ttftRiseS: Double?
    /// Requests scheduled in the window and not finished when it ended (informational).
    public var outstandingAtWindowEnd: Int
    /// Requests not finished `drainGraceS` after the window's end (or cancelled).
    public var outstanding: Int
    public var valid: Bool
    public var invalidReasons: [String]
    public var slo: SLOEvaluation
    public var simulated: Bool
    /// What the server's own metrics said about the window, when they were scraped.
    public var serverView: ServerView?
    /// The server's TTFT histogram against the client's TTFTs, when it exports one.
    public var serverTTFT: ServerTTFTComparison?

    /// Passed only when valid and the SLO held.
    public var passed: Bool { valid && slo.passed }

    /// Everything that speaks against the probe, validity first, then what the server saw.
    public var reasons: [String] {
        let against = invalidReasons + slo.reasons
        guard !passed, let server = serverView else { return against }
        return against + [server.sentence]
    }

    /// Attainment for the curve fit. An invalid probe counts as over capacity: at most one request
    /// short of the SLO's level, lower when it measured lower. (Not 0: a short burst of backlog that a
    /// long run absorbs would then outweigh everything measured near the boundary.)
    public var attainmentPoint: AttainmentPoint {
        AttainmentPoint(rate: offeredRate ?? rate, attainment: fitAttainment, trials: max(1, requests))
    }
    private var fitAttainment: Double

    public init(_ m: ProbeMeasurement, slo: SLO, rules: ValidityRules) {
        let records = m.windowRecords
        request = m.request
        let windowS = m.windowEndS - m.windowStartS
        // Arrivals, not requests: with sessions a search's rate is sessions per second. A window's
        // turns come from sessions opened before it too, so their load is the sessions opened since
        // the plan began (at 0).
        let arrivals = records.filter(\.opensArrival).count
        if records.contains(where: { $0.turn != nil }) {
            sessions = arrivals
            let opened = m.records.filter { $0.opensArrival && $0.scheduledS < m.windowEndS }.count
            offeredRate = m.windowEndS > 0 && opened > 0 ? Double(opened) / m.windowEndS : nil
        } else {
            offeredRate = windowS > 0 && arrivals > 0 ? Double(arrivals) / windowS : nil
        }
        achievedRate = Self.rate(records.compactMap(\.sentS).sorted())
        requests = records.count
        var errors: [String: Int] = [:]
        for r in records where !r.succeeded { errors[r.status.rawValue, default: 0] += 1 }
        self.errors = errors
        let start = records.map(\.scheduledS).min() ?? 0
        let end = records.map { $0.chunkTimesS.last ?? $0.sentS ?? $0.scheduledS }.max() ?? start
        let outputTokens = records.filter(\.succeeded).reduce(0) { $0 + $1.chunkTokens.reduce(0, +) }
        outputTokensPerS = end > start ? Double(outputTokens) / (end - start) : 0
        client = ClientHealth(records: records, timerLatenessS: m.timerLatenessS, lagThresholdS: rules.lagThresholdS,
                              maxInFlight: m.maxInFlight)
        simulated = m.simulated
        serverView = m.serverView
        serverTTFT = m.serverTTFTComparison
        self.slo = slo.evaluate(records)
        errorRate = self.slo.errorRate
        fluidity = self.slo.fluidity
        percentileFluidity = self.slo.percentileFluidity
        fluidityPercentile = slo.fluidityPercentile
        let summary = (achievedRate: achievedRate, client: client)

        var invalid: [String] = []
        if requests < rules.minRequests {
            invalid.append("only \(requests) requests in the window, at least \(rules.minRequests) are needed for the percentile")
        }
        // Turns left unsent because a turn before them failed measure the server, not the sending.
        let due = records.filter { $0.status != .sessionEnded }
        let sent = due.filter { $0.sentS != nil }.count
        if due.count >= 2, Double(sent) < Double(due.count) * (1 - rules.rateTolerance) {
            invalid.append(String(format: "only %d of the %d planned requests were sent (allowed %.1f %% unsent)",
                                  sent, due.count, rules.rateTolerance * 100))
        } else if let achieved = summary.achievedRate, let planned = Self.rate(due.map(\.scheduledS).sorted()) {
            let gap = abs(achieved - planned) / planned
            if gap > rules.rateTolerance {
                invalid.append(String(format: "achieved rate %.3f req/s is %.1f %% off the plan's %.3f (allowed %.1f %%)",
                                      achieved, gap * 100, planned, rules.rateTolerance * 100))
            }
        }
        if summary.client.worstS > summary.client.lagThresholdS {
            invalid.append(String(format: "client not trustworthy: P99 lag %.1f ms above the %.1f ms threshold",
                                  summary.client.worstS * 1000, rules.lagThresholdS * 1000))
        }
        if let fault = summary.client.faults?.reason { invalid.append(fault) }

        // Backlog: a steadily rising TTFT over the window means the queue grows without bound.
        let window = windowS
        let trend = records.filter(\.succeeded).compactMap { r in r.timeline.ttft.map { (r.scheduledS - m.windowStartS, $0) } }
        if trend.count >= 10, window > 0, let fit = try? PolynomialFit.fit(x: trend.map(\.0), y: trend.map(\.1), degree: 1) {
            let slope = fit.coefficients[1]
            ttftSlope = slope
            ttftRiseS = slope * window
            let median = Stats.quantile(trend.map(\.1), 0.5) ?? 0
            let limit = max(rules.ttftRiseFloorS, rules.maxTTFTRise * median)
            // The rise must clear the limit by two of its standard errors: over a short window, TTFTs
            // that scatter near capacity tilt a line by chance.
            let n = Double(trend.count), meanX = trend.reduce(0) { $0 + $1.0 } / n
            let sxx = trend.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
            let riseSE = sxx > 0 ? fit.rmsResidual * (n / (n - 2)).squareRoot() / sxx.squareRoot() * window : 0
            if slope * window - 2 * riseSE > limit {
                invalid.append(String(format: "runaway backlog: TTFT rose %.2f ± %.2f s over the %.0f s window (limit %.2f s)",
                                      slope * window, riseSE, window, limit))
            }
        }
        outstandingAtWindowEnd = records.filter { r in
            r.status == .cancelled || (r.succeeded && (r.chunkTimesS.last ?? r.scheduledS) > m.windowEndS)
        }.count
        let deadline = m.windowEndS + rules.drainGraceS
        outstanding = records.filter { r in
            r.status == .cancelled || (r.succeeded && (r.chunkTimesS.last ?? r.scheduledS) > deadline)
        }.count
        if requests > 0, Double(outstanding) / Double(requests) > rules.maxOutstandingFraction {
            invalid.append(String(format: "runaway backlog: %d of %d requests still outstanding %.0f s after the window",
                                  outstanding, requests, rules.drainGraceS))
        }
        invalidReasons = invalid
        valid = invalid.isEmpty
        fitAttainment = valid ? self.slo.attainment
            : min(self.slo.attainment, max(0, slo.attainmentLevel - 1 / Double(max(1, requests))))
    }

    /// Events per second over sorted times: (n - 1) / span.
    static func rate(_ times: [Double]) -> Double? {
        guard times.count >= 2, let first = times.first, let last = times.last, last > first else { return nil }
        return Double(times.count - 1) / (last - first)
    }
}
