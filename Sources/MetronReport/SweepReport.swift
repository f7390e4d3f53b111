import Foundation
import MetronSearch
import MetronModel
import MetronStats

/// What `report.html` shows, read back from a sweep's result files (`capacity.json`, `plots.json`,
/// `probe.json` and `server_metrics.jsonl`), so the report says only what the files say.
public struct SweepReport: Sendable {
    public var sweep: String
    public var searches: [Search]
    public var confidence: Double

    /// One capacity search of the sweep.
    public struct Search: Sendable {
        public var system: String
        public var workload: String
        public var slo: String
        public var gpus: Int?
        public var usdPerHour: Double?
        public var capacity: CapacityFile
        public var plots: PlotData?
        /// The settings of the probes (workload, windows, measurement), from a `probe.json`.
        public var probeSettings: [String: String]
        /// Scrapes of the server's metrics for the probes nearest the capacity.
        public var serverMetrics: [ProbeScrapes]

        public var row: SystemCapacity {
            SystemCapacity(system: system, maxQPS: capacity.maxQPS, ciLow: capacity.ciLow, ciHigh: capacity.ciHigh,
                           outputTokensPerS: capacity.outputTokensPerS, gpus: gpus, usdPerHour: usdPerHour,
                           statisticalInterval: capacity.intervalMethod != Self.bracketMethod, confidence: capacity.confidence,
                           undetermined: capacity.undetermined, pairedWithNext: capacity.pairedWithNext)
        }

        /// `interval_method` of a bracket between probes, which is not a statistical interval.
        static let bracketMethod = "bracket_between_probes"
    }

    public struct ProbeScrapes: Sendable {
        public var directory: String
        public var rate: Double
        public var passed: Bool
        public var windowStartS: Double
        public var windowEndS: Double
        public var samples: [ServerMetricsSample]
    }

    /// The parts of `capacity.json` the report shows.
    public struct CapacityFile: Sendable, Decodable {
        public var maxQPS: Double?
        public var ciLow: Double?
        public var ciHigh: Double?
        public var confidence: Double
        public var intervalMethod: String
        /// Why the capacity is not determined; then `ci_low` and `ci_high` are where it lies, if anywhere.
        public var undetermined: String?
        public var strategy: String
        public var stopReason: String
        public var slo: SLORecord
        public var outputTokensPerS: Double?
        public var curve: AttainmentCurve?
        public var probes: [ProbeFile]
        public var simulated: Bool
        public var warnings: [String]
        /// Set for a multi-turn workload, whose rates count sessions per second.
        public var requestsPerSession: Double?
        public var pairedWithNext: PairedWithNext?

        enum CodingKeys: String, CodingKey {
            case confidence, strategy, slo, curve, probes, simulated, warnings, undetermined
            case pairedWithNext = "paired_with_next"
            case maxQPS = "max_qps", ciLow = "ci_low", ciHigh = "ci_high", intervalMethod = "interval_method"
            case stopReason = "stop_reason", outputTokensPerS = "output_tokens_per_s", requestsPerSession = "requests_per_session"
        }

        public var rateUnit: String { requestsPerSession == nil ? "req/s" : "sessions/s" }
    }

    public struct ProbeFile: Sendable, Decodable {
        public var rate: Double
        public var attempt: Int
        public var bracketing: Bool?
        public var directory: String
        public var achievedRate: Double?
        public var requests: Int
        public var p99Fluidity: Double?
        public var errorRate: Double
        public var valid: Bool
        public var passed: Bool
        public var attainment: Double
        public var reasons: [String]
        public var server: ServerView?
        public var serverTTFT: ServerTTFTComparison?

        enum CodingKeys: String, CodingKey {
            case rate, attempt, bracketing, directory, requests, valid, passed, attainment, reasons, server
            case serverTTFT = "server_ttft_comparison"
            case achievedRate = "achieved_rate", p99Fluidity = "p99_fluidity", errorRate = "error_rate"
        }
    }

    /// Which search to read: where its files are and the figures of its system that are not in them.
    public struct Entry: Sendable {
        public var system: String
        public var workload: String
        public var slo: String
        public var gpus: Int?
        public var usdPerHour: Double?

        public init(system: String, workload: String, slo: String, gpus: Int?, usdPerHour: Double?) {
            self.system = system
            self.workload = workload
            self.slo = slo
            self.gpus = gpus
            self.usdPerHour = usdPerHour
        }
    }

    /// Probes around the capacity whose server metrics the report plots.
    static let probesNearCapacity = 2

    /// Reads every search of `entries` from `layout`; a search without a readable `capacity.json` is
    /// left out (the report shows what was finished).
    public static func load(layout: ResultsLayout, entries: [Entry], confidence: Double) -> SweepReport {
        let searches = entries.compactMap { e -> Search? in
            let directory = layout.search(system: e.system, workload: e.workload, slo: e.slo)
            guard let capacity = try? JSON.decode(CapacityFile.self, from: directory.appendingPathComponent("capacity.json"))
            else { return nil }
            let plots = try? JSON.decode(PlotData.self, from: directory.appendingPathComponent(PlotData.fileName))
            let probes = layout.probes(system: e.system, workload: e.workload)
            let settings = capacity.probes.lazy.compactMap {
                try? JSON.decode(ProbeFileSettings.self, from: probes.appendingPathComponent($0.directory).appendingPathComponent("probe.json"))
            }.first
            let near = nearCapacity(capacity).compactMap { p -> ProbeScrapes? in
                let dir = probes.appendingPathComponent(p.directory)
                guard let samples = ServerMetricsFile.read(dir.appendingPathComponent(ServerMetricsFile.name)),
                      let window = try? JSON.decode(ProbeFileSettings.self, from: dir.appendingPathComponent("probe.json"))
                else { return nil }
                return ProbeScrapes(directory: p.directory, rate: p.rate, passed: p.passed, windowStartS: window.windowStartS,
                                    windowEndS: window.windowEndS, samples: samples)
            }
            return Search(system: e.system, workload: e.workload, slo: e.slo, gpus: e.gpus, usdPerHour: e.usdPerHour,
                          capacity: capacity, plots: plots, probeSettings: settings?.identity?.settings ?? [:], serverMetrics: near)
        }
        return SweepReport(sweep: layout.sweep, searches: searches, confidence: confidence)
    }

    /// The probes nearest the capacity (or, without one, the lowest), nearest first.
    static func nearCapacity(_ c: CapacityFile) -> [ProbeFile] {
        let anchor = c.maxQPS ?? c.probes.map(\.rate).min() ?? 0
        return Array(c.probes.sorted { abs($0.rate - anchor) < abs($1.rate - anchor) }.prefix(probesNearCapacity))
    }

    struct ProbeFileSettings: Decodable {
        struct Identity: Decodable { var settings: [String: String] }
        var identity: Identity?
        var windowStartS: Double
        var windowEndS: Double
        enum CodingKeys: String, CodingKey { case identity, windowStartS = "window_start_s", windowEndS = "window_end_s" }
    }
}
