import Foundation
import MetronSearch
import MetronModel
import MetronStats

/// `plots.json` beside `capacity.json`: what `plots-scripts/` and `report.html` draw besides the
/// capacity, distributions derived from the raw records of one probe (`drawnProbe`), so no metric is
/// computed twice elsewhere.
public struct PlotData: Codable, Sendable {
    public struct Quantiles: Codable, Sendable {
        public var quantiles: [Double]
        public var valuesS: [Double]
        enum CodingKeys: String, CodingKey { case quantiles, valuesS = "values_s" }
    }

    public struct FluidityCurve: Codable, Sendable {
        public var deadlineS: [Double]
        public var p99Fluidity: [Double]
        enum CodingKeys: String, CodingKey { case deadlineS = "deadline_s", p99Fluidity = "p99_fluidity" }
    }

    public struct Prefill: Codable, Sendable {
        /// The system the model was profiled on (with a reference model, not the one searched).
        public var system: String?
        /// (prompt tokens, mean TTFT) per profiled length.
        public var samples: [[Double]]
        public var coefficients: [Double]

        public init(system: String?, samples: [[Double]], coefficients: [Double]) {
            self.system = system
            self.samples = samples
            self.coefficients = coefficients
        }
    }

    public var probeRate: Double?
    /// Per-request fluidity-index under the SLO's deadlines, sorted; failed requests are 0.
    public var fluidity: [Double]
    public var tbt: Quantiles?
    public var fluidityVsTargetTBT: FluidityCurve?
    public var prefill: Prefill?
    public var simulated: Bool

    enum CodingKeys: String, CodingKey {
        case fluidity, tbt, prefill, simulated
        case probeRate = "probe_rate", fluidityVsTargetTBT = "fluidity_vs_target_tbt"
    }

    public static let fileName = "plots.json"
    static let tbtQuantiles = (1...199).map { Double($0) / 200 } + [0.999]

    /// The probe whose records are drawn: the highest passing one, else the lowest.
    public static func drawnProbe(of result: CapacityResult) -> ProbeRow? {
        result.probes.filter(\.passed).max { $0.rate < $1.rate } ?? result.probes.min { $0.rate < $1.rate }
    }

    /// `records` are the window records of `drawnProbe(of: result)`.
    public init(result: CapacityResult, records: [RequestRecord], deadlines: FluidityDeadlines, prefill: Prefill?) {
        probeRate = Self.drawnProbe(of: result)?.rate
        simulated = result.simulated
        fluidity = records.map { deadlines.fluidityIndex(of: $0) }.sorted()
        let tbts = records.filter(\.succeeded).map(\.timeline.tokenLevelTBT)
        let pooled = tbts.flatMap { $0 }.sorted()
        tbt = pooled.isEmpty ? nil : Quantiles(
            quantiles: Self.tbtQuantiles, valuesS: Self.tbtQuantiles.map { Stats.quantile(sorted: pooled, $0)! })
        let misses = ServiceMetrics.missRateVsTargetTBT(tokenLevelTBTs: tbts)
        fluidityVsTargetTBT = tbts.isEmpty ? nil : FluidityCurve(
            deadlineS: ServiceMetrics.curveDeadlines, p99Fluidity: misses.map { 1 - ($0 ?? 1) })
        self.prefill = prefill
    }

    public func write(to directory: URL) throws {
        try AtomicWrite.json(self, to: directory.appendingPathComponent(Self.fileName))
    }
}
