import MetronStats

/// Token-rate figures of a set of requests (METRICS.md section 4).
public struct TokenRates: Sendable, Equatable, Codable {
    /// 1 / mean(per-request TPOT), TPOT being the mean of a request's token-level TBTs.
    public var tpotBased: Double?
    /// 1 / Q_0.99 of all token-level TBTs pooled.
    public var tbtBased: Double?
    /// 1 / Q_0.99 of per-request minimum TBT deadlines meeting a 10 % miss rate.
    public var fluidTokenGenerationRate: Double?

    enum CodingKeys: String, CodingKey {
        case tpotBased = "tpot_based_throughput", tbtBased = "tbt_based_throughput"
        case fluidTokenGenerationRate = "fluid_token_generation_rate"
    }
}

public enum ServiceMetrics {
    public static let throughputQuantile = 0.99
    public static let throughputTargetMissRate = 0.1

    /// Token-rate figures from each request's token-level TBTs (`x_1 ... x_{N-1}`).
    /// Requests with a single token have no TBT and take no part in the TPOT mean.
    public static func tokenRates(tokenLevelTBTs tbts: [[Double]]) -> TokenRates {
        tokenRates(
            tpots: tbts.filter { !$0.isEmpty }.map { $0.reduce(0, +) / Double($0.count) },
            pooledTBTP99: Stats.quantile(tbts.flatMap { $0 }, throughputQuantile),
            minDeadlines: tbts.map { minDeadlineForThroughput(tokenLevelTBT: $0[...]) })
    }

    /// Token-rate figures from per-request TPOTs, the pooled TBT P99 and per-request minimum deadlines.
    public static func tokenRates(tpots: [Double], pooledTBTP99: Double?, minDeadlines: [Double]) -> TokenRates {
        // A time of 0 (every token of a chunk at once) has no finite rate: reported as unknown.
        func rate(_ seconds: Double?) -> Double? { seconds.flatMap { $0 > 0 ? 1 / $0 : nil } }
        return TokenRates(
            tpotBased: rate(Stats.mean(tpots)),
            tbtBased: rate(pooledTBTP99),
            fluidTokenGenerationRate: rate(Stats.quantile(minDeadlines, throughputQuantile)))
    }

    /// The smallest per-token deadline meeting a 10 % miss rate on `[0] + tbt`, first token ignored.
    public static func minDeadlineForThroughput(tokenLevelTBT tbt: ArraySlice<Double>) -> Double {
        Fluidity.minTBTDeadlineToMeet([0] + tbt, target: throughputTargetMissRate, ttftDeadline: 0, ignoreFirstToken: true)
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
