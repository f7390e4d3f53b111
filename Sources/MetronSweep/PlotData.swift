import Foundation
import MetronSearch
import MetronModel
import MetronReport
import MetronStats

/// What `plots-scripts/` draws besides `capacity.json`: distributions derived from the raw records of
/// one probe (the highest passing one, else the lowest), so no metric is computed twice elsewhere.
/// Written as `plots.json` beside `capacity.json`.
public struct PlotData: Encodable, Sendable {
    public struct Quantiles: Encodable, Sendable {
        var quantiles: [Double]
        var valuesS: [Double]
        enum CodingKeys: String, CodingKey { case quantiles, valuesS = "values_s" }
    }

    public struct FluidityCurve: Encodable, Sendable {
        var deadlineS: [Double]
        var p99Fluidity: [Double]
        enum CodingKeys: String, CodingKey { case deadlineS = "deadline_s", p99Fluidity = "p99_fluidity" }
    }

    public struct Prefill: Encodable, Sendable {
        /// The system the model was profiled on (with a reference model, not the one searched).
        var system: String?
        /// (prompt tokens, mean TTFT) per profiled length.
        var samples: [[Double]]
        var coefficients: [Double]
    }

    var probeRate: Double?
    /// Per-request fluidity-index under the SLO's deadlines, sorted; failed requests are 0.
    var fluidity: [Double]
    var tbt: Quantiles?
    var fluidityVsTargetTBT: FluidityCurve?
    var prefill: Prefill?
    var simulated: Bool

    enum CodingKeys: String, CodingKey {
        case fluidity, tbt, prefill, simulated
        case probeRate = "probe_rate", fluidityVsTargetTBT = "fluidity_vs_target_tbt"
    }

    public static let fileName = "plots.json"
    static let tbtQuantiles = (1...199).map { Double($0) / 200 } + [0.999]

    public init(result: CapacityResult, cache: ProbeCache, deadlines: FluidityDeadlines, prefill: PrefillModel?) {
        let passing = result.probes.filter(\.passed).max { $0.rate < $1.rate }
        let chosen = passing ?? result.probes.min { $0.rate < $1.rate }
        let records = chosen.flatMap { cache.load($0.request).measurement }?.windowRecords ?? []
        probeRate = chosen?.rate
        simulated = result.simulated
        fluidity = records.map { deadlines.fluidityIndex(of: $0) }.sorted()
        let tbts = records.filter(\.succeeded).map(\.timeline.tokenLevelTBT)
        let pooled = tbts.flatMap { $0 }.sorted()
        tbt = pooled.isEmpty ? nil : Quantiles(
            quantiles: Self.tbtQuantiles, valuesS: Self.tbtQuantiles.map { Stats.quantile(sorted: pooled, $0)! })
        let misses = ServiceMetrics.missRateVsTargetTBT(tokenLevelTBTs: tbts)
        fluidityVsTargetTBT = tbts.isEmpty ? nil : FluidityCurve(
            deadlineS: ServiceMetrics.curveDeadlines, p99Fluidity: misses.map { 1 - ($0 ?? 1) })
        self.prefill = prefill.map {
            Prefill(system: $0.system, samples: $0.residuals.map { [Double($0.promptTokens), $0.meanTTFTS] }, coefficients: $0.coefficients)
        }
    }

    public func write(to directory: URL) throws {
        try AtomicWrite.json(self, to: directory.appendingPathComponent(Self.fileName))
    }
}
