import Foundation
import MetronStats

/// A latency percentile limit: `Q_{percentile/100}(sample) <= limitS`.
public struct LatencyLimit: Sendable, Equatable, Codable {
    /// 0 < percentile < 100.
    public var percentile: Double
    public var limitS: Double

    public init(percentile: Double, limitS: Double) {
        self.percentile = percentile
        self.limitS = limitS
    }

    enum CodingKeys: String, CodingKey {
        case percentile
        case limitS = "limit_s"
    }
}

/// What a probe must achieve.
public enum SLOKind: Sendable, Equatable {
    /// "P<percentile> fluidity-index >= target": the (100 - percentile)-th percentile of per-request
    /// fluidity is at least `target` (a failed request counts as 0).
    case fluidity(percentile: Double, target: Double)
    /// TTFT percentile and token-level TBT percentile (tokens of all successful requests pooled).
    case ttftTBT(ttft: LatencyLimit, tbt: LatencyLimit)
    /// TTFT percentile and per-request TPOT percentile.
    case ttftTPOT(ttft: LatencyLimit, tpot: LatencyLimit)

    /// The attainment level whose crossing marks capacity on the fitted curve.
    public var attainmentLevel: Double {
        switch self {
        case let .fluidity(p, _): return p / 100
        case let .ttftTBT(a, b), let .ttftTPOT(a, b): return max(a.percentile, b.percentile) / 100
        }
    }

    public var typeName: String {
        switch self {
        case .fluidity: return "fluidity"
        case .ttftTBT: return "ttft_tbt"
        case .ttftTPOT: return "ttft_tpot"
        }
    }
}

/// The defaults of an SLO wherever one is written (a sweep file, `metron search`, `metron run`): the
/// paper's P99 fluidity-index of at least 0.9 with its deadlines, and at most 1 % errors.
public enum SLODefaults {
    public static let percentile = 99.0
    public static let fluidityTarget = 0.9
    /// Seconds added to the predicted prefill time for `D_p`; `D_p` itself when there is no prefill model.
    public static let firstTokenSlackS = 0.3
    /// `D_d`, seconds per token.
    public static let tbtDeadlineS = 0.03
    public static let maxErrorRate = 0.01
    /// Every streamed token counts, reasoning included, as the reference counts them.
    public static let fluidityTokens = FluidityTokens.all
    public static let kind = SLOKind.fluidity(percentile: percentile, target: fluidityTarget)
}

/// A service-level objective, resolved for one system (its deadlines are final).
public struct SLO: Sendable, Equatable {
    public var name: String
    public var kind: SLOKind
    /// Deadlines of the fluidity-index (used by every kind for the reported P99 fluidity).
    public var deadlines: FluidityDeadlines
    /// A probe with a larger fraction of failed requests fails.
    public var maxErrorRate: Double

    public init(name: String = "p99-fluidity", kind: SLOKind = SLODefaults.kind,
                deadlines: FluidityDeadlines = .referenceDefault, maxErrorRate: Double = SLODefaults.maxErrorRate) {
        self.name = name
        self.kind = kind
        self.deadlines = deadlines
        self.maxErrorRate = maxErrorRate
    }

    /// The fluidity percentile reported for every probe (99 unless the SLO names another).
    public var fluidityPercentile: Double {
        if case let .fluidity(p, _) = kind { return p }
        return 99
    }

    /// The attainment level whose crossing marks capacity on the fitted curve.
    public var attainmentLevel: Double { kind.attainmentLevel }

    public var summary: String {
        let errors = "errors <= \(percent(maxErrorRate))"
        switch kind {
        case let .fluidity(p, target):
            return "P\(compactNumber(p)) fluidity-index >= \(compactNumber(target)) (\(deadlines.summary)), \(errors)"
        case let .ttftTBT(t, b):
            return "TTFT P\(compactNumber(t.percentile)) <= \(compactNumber(t.limitS)) s and TBT P\(compactNumber(b.percentile)) <= \(compactNumber(b.limitS)) s, \(errors)"
        case let .ttftTPOT(t, b):
            return "TTFT P\(compactNumber(t.percentile)) <= \(compactNumber(t.limitS)) s and TPOT P\(compactNumber(b.percentile)) <= \(compactNumber(b.limitS)) s, \(errors)"
        }
    }
}

/// The SLO applied to the records of one probe.
public struct SLOEvaluation: Sendable, Equatable {
    public var passed: Bool
    /// Why it failed; empty when it passed.
    public var reasons: [String]
    /// A monotone stand-in for the verdict in [0, 1]: the verdict passes exactly when
    /// `attainment >= level` (up to interpolation between order statistics).
    public var attainment: Double
    public var trials: Int
    /// The fluidity-index at the SLO's percentile (the 1st percentile for P99).
    public var percentileFluidity: Double?
    public var errorRate: Double
    /// Per-request fluidity-index, sorted; failed requests as 0.
    public var fluidity: [Double]
    /// Sizes of the episodes of misses of the worst condition, in requests' worth of attainment
    /// (`SLO.episodes`): their spread is what makes probes disagree more than binomial counts.
    public var missEpisodes: [Double]
}

extension SLO {
    /// Evaluates the SLO on raw records. Failed requests count as fluidity 0, as infinite TTFT and
    /// never as a met deadline.
    public func evaluate(_ records: [RequestRecord]) -> SLOEvaluation {
        let n = records.count
        let failed = records.filter { !$0.succeeded }.count
        let errorRate = n == 0 ? 0 : Double(failed) / Double(n)
        let level = attainmentLevel
        var reasons: [String] = []
        // Each condition holds exactly when its attainment fraction reaches its quantile q; the fraction
        // is rescaled so that q maps to `level`, and the curve is fitted to the worst condition. A
        // condition is given by its missed units (requests or tokens) with their request's scheduled
        // time, out of `units`.
        var conditions: [(attainment: Double, episodes: [Double])] = []
        let gapS = episodeGapS(records)
        func condition(misses: [(timeS: Double, units: Int)], units: Int, quantile q: Double) {
            let k = (1 - level) / max(1 - q, 1e-12)
            let missed = misses.reduce(0) { $0 + $1.units }
            let fraction = units == 0 ? 1 : 1 - Double(missed) / Double(units)
            // In trials of the fit (requests), a missed unit weighs k n / units.
            let weight = units == 0 ? 0 : k * Double(n) / Double(units)
            conditions.append((min(1, max(0, 1 - (1 - fraction) * k)),
                               Self.episodes(misses, gapS: gapS).map { Double($0) * weight }))
        }

        // Judged on miss rates, as the reference judges: `Q_p(miss rate) <= 1 - target`.
        let missRateByRequest = records.map { deadlines.missRate(of: $0) }
        let percentileMissRate = Stats.quantile(missRateByRequest, fluidityPercentile / 100)
        let percentileFluidity = percentileMissRate.map { 1 - $0 }
        let fluidity = missRateByRequest.map { 1 - $0 }.sorted()
        guard n > 0 else {
            return SLOEvaluation(passed: false, reasons: ["no requests were measured"], attainment: 0, trials: 0,
                                 percentileFluidity: nil, errorRate: 0, fluidity: [], missEpisodes: [])
        }

        if errorRate > maxErrorRate {
            reasons.append("error rate \(percent(errorRate)) is above the limit of \(percent(maxErrorRate)) (\(failed) of \(n) requests failed)")
        }
        condition(misses: Self.misses(records) { !$0.succeeded }, units: n, quantile: 1 - maxErrorRate)

        switch kind {
        case let .fluidity(p, target):
            let limit = Self.missRateLimit(fluidityTarget: target)
            if let q = percentileMissRate, q > limit {
                reasons.append("P\(compactNumber(p)) fluidity-index \(String(format: "%.4f", 1 - q)) is below the target \(compactNumber(target))")
            }
            let misses = zip(records, missRateByRequest).filter { $0.1 > limit }.map { (timeS: $0.0.scheduledS, units: 1) }
            condition(misses: misses, units: n, quantile: p / 100)
        case let .ttftTBT(ttftLimit, tbtLimit):
            checkTTFT(records, ttftLimit, &reasons, condition)
            let tbts = records.filter(\.succeeded).flatMap { $0.timeline.tokenLevelTBT }.sorted()
            if let q = Stats.quantile(sorted: tbts, tbtLimit.percentile / 100) {
                if q > tbtLimit.limitS {
                    reasons.append("TBT P\(compactNumber(tbtLimit.percentile)) \(ms(q)) is above \(ms(tbtLimit.limitS))")
                }
                let misses = records.filter(\.succeeded).map { r in
                    (timeS: r.scheduledS, units: r.timeline.tokenLevelTBT.filter { $0 > tbtLimit.limitS }.count)
                }.filter { $0.units > 0 }
                condition(misses: misses, units: tbts.count, quantile: tbtLimit.percentile / 100)
            }
        case let .ttftTPOT(ttftLimit, tpotLimit):
            checkTTFT(records, ttftLimit, &reasons, condition)
            // A failed request has no TPOT: it counts as over the limit.
            let tpot = { (r: RequestRecord) in r.succeeded ? (r.timeline.tpot ?? 0) : .greatestFiniteMagnitude }
            let tpots = records.map(tpot).sorted()
            let q = Stats.quantile(sorted: tpots, tpotLimit.percentile / 100) ?? .greatestFiniteMagnitude
            if q > tpotLimit.limitS {
                reasons.append("TPOT P\(compactNumber(tpotLimit.percentile)) \(q >= .greatestFiniteMagnitude ? "unbounded (failed requests)" : ms(q)) is above \(ms(tpotLimit.limitS))")
            }
            condition(misses: Self.misses(records) { tpot($0) > tpotLimit.limitS }, units: n, quantile: tpotLimit.percentile / 100)
        }
        let worst = conditions.min { $0.attainment < $1.attainment }!
        return SLOEvaluation(passed: reasons.isEmpty, reasons: reasons, attainment: worst.attainment, trials: n,
                             percentileFluidity: percentileFluidity, errorRate: errorRate, fluidity: fluidity,
                             missEpisodes: worst.episodes)
    }

    /// The per-request miss rate a fluidity target allows. `1 - 0.9` is 0.09999999999999998 in
    /// binary, below the miss rate 0.1 that a request with one of ten deadlines missed has; the
    /// target is a decimal, so is its complement.
    public static func missRateLimit(fluidityTarget target: Double) -> Double {
        ((1 - target) * 1e12).rounded() / 1e12
    }

    private func checkTTFT(
        _ records: [RequestRecord], _ limit: LatencyLimit, _ reasons: inout [String],
        _ condition: ([(timeS: Double, units: Int)], Int, Double) -> Void
    ) {
        let ttft = { (r: RequestRecord) in r.succeeded ? (r.timeline.ttft ?? .greatestFiniteMagnitude) : .greatestFiniteMagnitude }
        let ttfts = records.map(ttft).sorted()
        let q = Stats.quantile(sorted: ttfts, limit.percentile / 100) ?? .greatestFiniteMagnitude
        if q > limit.limitS {
            reasons.append("TTFT P\(compactNumber(limit.percentile)) \(q >= .greatestFiniteMagnitude ? "unbounded (failed requests)" : ms(q)) is above \(ms(limit.limitS))")
        }
        condition(Self.misses(records) { ttft($0) > limit.limitS }, records.count, limit.percentile / 100)
    }

    /// The requests for which `missed` holds, as misses of one unit at their scheduled time.
    static func misses(_ records: [RequestRecord], where missed: (RequestRecord) -> Bool) -> [(timeS: Double, units: Int)] {
        records.filter(missed).map { ($0.scheduledS, 1) }
    }

    /// Misses come in episodes (a burst of load makes many requests miss together), which is why a
    /// probe's attainment varies far more than a binomial count would. Misses whose scheduled times
    /// are less than `gapS` apart belong to one episode; returns the units missed in each.
    public static func episodes(_ misses: [(timeS: Double, units: Int)], gapS: Double) -> [Int] {
        var sizes: [Int] = [], last = -Double.infinity
        for miss in misses.sorted(by: { $0.timeS < $1.timeS }) {
            if miss.timeS - last > gapS { sizes.append(0) }
            sizes[sizes.count - 1] += miss.units
            last = miss.timeS
        }
        return sizes
    }

    /// The gap that separates episodes: the median time a request spends in the system (scheduled to
    /// last token), the scale over which one request's fate is tied to its neighbours'.
    func episodeGapS(_ records: [RequestRecord]) -> Double {
        let latencies = records.filter(\.succeeded).compactMap { r in r.chunkTimesS.last.map { $0 - r.scheduledS } }
        return Stats.quantile(latencies, 0.5) ?? 1
    }
}
