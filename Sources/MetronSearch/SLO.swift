import Foundation
import MetronCore
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

    public var typeName: String {
        switch self {
        case .fluidity: return "fluidity"
        case .ttftTBT: return "ttft_tbt"
        case .ttftTPOT: return "ttft_tpot"
        }
    }
}

/// A service-level objective, resolved for one system (its deadlines are final).
public struct SLO: Sendable, Equatable {
    public var name: String
    public var kind: SLOKind
    /// Deadlines of the fluidity-index (used by every kind for the reported P99 fluidity).
    public var deadlines: DeadlineSpec
    /// A probe with a larger fraction of failed requests fails.
    public var maxErrorRate: Double

    public init(name: String = "p99-fluidity", kind: SLOKind = .fluidity(percentile: 99, target: 0.9),
                deadlines: DeadlineSpec = .referenceDefault, maxErrorRate: Double = 0.01) {
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
    public var attainmentLevel: Double {
        switch kind {
        case let .fluidity(p, _): return p / 100
        case let .ttftTBT(a, b), let .ttftTPOT(a, b): return max(a.percentile, b.percentile) / 100
        }
    }

    public var summary: String {
        let errors = "errors <= \(percent(maxErrorRate))"
        switch kind {
        case let .fluidity(p, target):
            return "P\(trim(p)) fluidity-index >= \(trim(target)) (\(deadlines.ttft.summary), D_d = \(trim(deadlines.tbt)) s), \(errors)"
        case let .ttftTBT(t, b):
            return "TTFT P\(trim(t.percentile)) <= \(trim(t.limitS)) s and TBT P\(trim(b.percentile)) <= \(trim(b.limitS)) s, \(errors)"
        case let .ttftTPOT(t, b):
            return "TTFT P\(trim(t.percentile)) <= \(trim(t.limitS)) s and TPOT P\(trim(b.percentile)) <= \(trim(b.limitS)) s, \(errors)"
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
        // is rescaled so that q maps to `level`, and the curve is fitted to the worst condition.
        var scaled: [Double] = []
        func condition(fraction: Double, quantile q: Double) {
            scaled.append(min(1, max(0, 1 - (1 - fraction) * (1 - level) / max(1 - q, 1e-12))))
        }

        let fluidity = records.map { deadlines.fluidityIndex(of: $0) }.sorted()
        let percentileFluidity = Stats.quantile(sorted: fluidity, 1 - fluidityPercentile / 100)
        guard n > 0 else {
            return SLOEvaluation(passed: false, reasons: ["no requests were measured"], attainment: 0, trials: 0,
                                 percentileFluidity: nil, errorRate: 0, fluidity: [])
        }

        if errorRate > maxErrorRate {
            reasons.append("error rate \(percent(errorRate)) is above the limit of \(percent(maxErrorRate)) (\(failed) of \(n) requests failed)")
        }
        scaled.append(maxErrorRate > 0 ? max(0, 1 - errorRate * (1 - level) / maxErrorRate) : (failed == 0 ? 1 : 0))

        switch kind {
        case let .fluidity(p, target):
            let value = percentileFluidity ?? 0
            if value < target {
                reasons.append("P\(trim(p)) fluidity-index \(String(format: "%.4f", value)) is below the target \(trim(target))")
            }
            condition(fraction: Double(fluidity.filter { $0 >= target }.count) / Double(n), quantile: p / 100)
        case let .ttftTBT(ttftLimit, tbtLimit):
            checkTTFT(records, ttftLimit, &reasons, condition)
            let tbts = records.filter(\.succeeded).flatMap { $0.timeline.tokenLevelTBT }.sorted()
            if let q = Stats.quantile(sorted: tbts, tbtLimit.percentile / 100) {
                if q > tbtLimit.limitS {
                    reasons.append("TBT P\(trim(tbtLimit.percentile)) \(ms(q)) is above \(ms(tbtLimit.limitS))")
                }
                condition(fraction: Double(tbts.filter { $0 <= tbtLimit.limitS }.count) / Double(tbts.count),
                          quantile: tbtLimit.percentile / 100)
            }
        case let .ttftTPOT(ttftLimit, tpotLimit):
            checkTTFT(records, ttftLimit, &reasons, condition)
            // A failed request has no TPOT: it counts as over the limit.
            let tpots = records.map { $0.succeeded ? ($0.timeline.tpot ?? 0) : .greatestFiniteMagnitude }.sorted()
            let q = Stats.quantile(sorted: tpots, tpotLimit.percentile / 100) ?? .greatestFiniteMagnitude
            if q > tpotLimit.limitS {
                reasons.append("TPOT P\(trim(tpotLimit.percentile)) \(q >= .greatestFiniteMagnitude ? "unbounded (failed requests)" : ms(q)) is above \(ms(tpotLimit.limitS))")
            }
            condition(fraction: Double(tpots.filter { $0 <= tpotLimit.limitS }.count) / Double(n),
                      quantile: tpotLimit.percentile / 100)
        }
        return SLOEvaluation(passed: reasons.isEmpty, reasons: reasons, attainment: scaled.min() ?? 0, trials: n,
                             percentileFluidity: percentileFluidity, errorRate: errorRate, fluidity: fluidity)
    }

    private func checkTTFT(
        _ records: [RequestRecord], _ limit: LatencyLimit, _ reasons: inout [String],
        _ condition: (Double, Double) -> Void
    ) {
        let ttfts = records.map { $0.succeeded ? ($0.timeline.ttft ?? .greatestFiniteMagnitude) : .greatestFiniteMagnitude }.sorted()
        let q = Stats.quantile(sorted: ttfts, limit.percentile / 100) ?? .greatestFiniteMagnitude
        if q > limit.limitS {
            reasons.append("TTFT P\(trim(limit.percentile)) \(q >= .greatestFiniteMagnitude ? "unbounded (failed requests)" : ms(q)) is above \(ms(limit.limitS))")
        }
        condition(Double(ttfts.filter { $0 <= limit.limitS }.count) / Double(records.count), limit.percentile / 100)
    }
}

func trim(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(format: "%g", x)
}

func percent(_ x: Double) -> String { String(format: "%.2f %%", x * 100) }

func ms(_ s: Double) -> String { String(format: "%.1f ms", s * 1000) }
