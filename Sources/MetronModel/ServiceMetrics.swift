import MetronStats

/// Token-rate figures of a set of requests (METRICS.md section 4).
public struct TokenRates: Sendable, Equatable, Codable {
    /// 1 / mean over requests of the reference's per-request TPOT (`referenceTPOT`).
    public var tpotBased: Double?
    /// 1 / Q_0.99 of all token-level TBTs pooled.
    public var tbtBased: Double?
    /// 1 / Q_0.99 of per-request minimum TBT deadlines meeting a 10 % miss rate.
    public var fluidTokenGenerationRate: Double?
    /// The requests behind the TPOT-based and fluid rates (in a run summary: the successful ones).
    public var requests: Int
    /// The pooled token-level TBTs behind the TBT-based rate.
    public var tokenGaps: Int

    enum CodingKeys: String, CodingKey {
        case tpotBased = "tpot_based_throughput", tbtBased = "tbt_based_throughput"
        case fluidTokenGenerationRate = "fluid_token_generation_rate"
        case requests, tokenGaps = "token_gaps"
    }
}

public enum ServiceMetrics {
    public static let throughputQuantile = 0.99
    public static let throughputTargetMissRate = 0.1

    /// Token-rate figures from each request's token-level TBTs (`x_1 ... x_{N-1}`).
    public static func tokenRates(tokenLevelTBTs tbts: [[Double]]) -> TokenRates {
        let pooled = Array(tbts.joined())
        return tokenRates(
            tpots: tbts.map { referenceTPOT(tokenLevelTBT: $0[...]) },
            pooledTBT: (p99: Stats.quantile(pooled, throughputQuantile), count: pooled.count),
            minDeadlines: tbts.map { minDeadlineForThroughput(tokenLevelTBT: $0[...]) })
    }

    /// Token-rate figures from the per-request `referenceTPOT`s and minimum deadlines of the same
    /// requests, and the P99 and count of their pooled token-level TBTs.
    public static func tokenRates(
        tpots: [Double], pooledTBT: (p99: Double?, count: Int), minDeadlines: [Double]
    ) -> TokenRates {
        precondition(tpots.count == minDeadlines.count, "one TPOT and one minimum deadline per request")
        // A time of 0 (every token of a chunk at once) has no finite rate: reported as unknown.
        func rate(_ seconds: Double?) -> Double? { seconds.flatMap { $0 > 0 ? 1 / $0 : nil } }
        return TokenRates(
            tpotBased: rate(Stats.mean(tpots)),
            tbtBased: rate(pooledTBT.p99),
            fluidTokenGenerationRate: rate(Stats.quantile(minDeadlines, throughputQuantile)),
            requests: tpots.count, tokenGaps: pooledTBT.count)
    }

    /// A request's TPOT as the reference computes it for the TPOT-based rate: the mean of its
    /// token-level TBTs, and 0 for a request of fewer than two tokens, which still counts in the mean.
    public static func referenceTPOT(tokenLevelTBT tbt: ArraySlice<Double>) -> Double {
        tbt.isEmpty ? 0 : tbt.reduce(0, +) / Double(tbt.count)
    }

    /// The smallest per-token deadline meeting a 10 % miss rate on `[0] + tbt`, first token ignored.
    public static func minDeadlineForThroughput(tokenLevelTBT tbt: ArraySlice<Double>) -> Double {
        Fluidity.minTBTDeadlineToMeet([0] + tbt, target: throughputTargetMissRate, ttftDeadline: 0, ignoreFirstToken: true)
    }

    /// The same from a request's inter-token times `x_0 ... x_{N-1}`: `x_0` stands where the
    /// padding 0 does and, ignored as the first token, counts no more than it.
    public static func minDeadlineForThroughput(interTokenTimes x: [Double]) -> Double {
        Fluidity.minTBTDeadlineToMeet(x, target: throughputTargetMissRate, ttftDeadline: 0, ignoreFirstToken: true)
    }

    /// Sum of missed over sum of total deadlines across requests.
    public static func serviceDeadlines(
        _ requests: [[Double]], ttftDeadlines: [Double], tbtDeadline: Double
    ) -> DeadlineCount {
        zip(requests, ttftDeadlines).reduce(DeadlineCount()) {
            $0 + Fluidity.deadlines($1.0, ttftDeadline: $1.1, tbtDeadline: tbtDeadline)
        }
    }

    /// The per-token deadlines of the "fluidity vs target TBT" curve: 1 ms to 100 ms in 1 ms steps.
    public static let curveDeadlines: [Double] = (1...100).map { Double($0) / 1000 }

    /// For each target TBT `D`: Q_0.99 over requests of the miss rate of `[0] + tbt_r` with
    /// `D_p = 0`, `D_d = D`, first token ignored. Plot `1 - value` as fluidity.
    public static func missRateVsTargetTBT(tokenLevelTBTs tbts: [[Double]], deadlines: [Double] = curveDeadlines) -> [Double?] {
        let padded = tbts.map { [0] + $0 }
        return deadlines.map { d in
            let rates = padded.map { Fluidity.deadlines($0, ttftDeadline: 0, tbtDeadline: d, ignoreFirstToken: true).missRate }
            return Stats.quantile(rates, throughputQuantile)
        }
    }
}
