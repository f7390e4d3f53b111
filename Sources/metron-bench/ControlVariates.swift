import ArgumentParser
import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronStats

/// Whether what a probe's plan realised explains how its attainment scatters: at rates around each
/// configuration's truth, many probes of the default size, their attainment regressed on the plan's
/// features in the window. The features are known before the probe runs, so a feature that explains
/// scatter could serve as a control variate in the fit; one that does not would only cost degrees of
/// freedom. Reported per rate: the attainment's standard deviation, and the share of its variance each
/// feature (and all together) removes out of sample (leave-one-out), which is negative when a
/// feature only fits noise.
struct ControlVariates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controls", abstract: "Whether the plan's realised features explain how probes near capacity scatter.")

    @OptionGroup var selection: ConfigurationOptions

    @Option(help: "Probes per rate, each with its own workload seed.")
    var probes = 60

    @Option(help: "Rates to probe as shares of each configuration's truth, comma-separated.")
    var relativeRates: NumberList<Double> = [0.95, 1.0, 1.05]

    @OptionGroup var parallel: JobOptions

    func validate() throws {
        if probes < 10 { throw ValidationError("--probes must be at least 10, got \(probes)") }
        try relativeRates.requirePositive("--relative-rates")
    }

    /// What the plan realised in the window (the regression's intercept centres them).
    static let featureNames = ["arrivals", "output tokens", "prompt tokens", "burstiness"]

    static func features(_ m: ProbeMeasurement) -> [Double] {
        let window = m.windowRecords
        let length = m.windowEndS - m.windowStartS
        let n = Double(max(window.count, 1))
        let output = window.reduce(0.0) { $0 + Double($1.requestedOutputTokens) } / n
        let prompt = window.reduce(0.0) { $0 + Double($1.requestedPromptTokens) } / n
        // Arrivals counted in 50 equal bins: their variance over their mean (1 for a Poisson plan).
        var bins = [Double](repeating: 0, count: 50)
        for r in window {
            bins[min(49, max(0, Int((r.scheduledS - m.windowStartS) / length * 50)))] += 1
        }
        let binMean = Stats.mean(bins) ?? 0
        let fano = binMean > 0 ? pow(Stats.standardDeviation(bins) ?? 0, 2) / binMean : 1
        return [Double(window.count), output, prompt, fano]
    }

    /// 1 - PRESS / total sum of squares, for the regression of `y` on an intercept and `columns` of `x`.
    static func varianceRemoved(_ x: [[Double]], _ y: [Double], columns: [Int]) -> Double {
        let design = x.map { row in [1] + columns.map { row[$0] } }
        let total = pow(Stats.standardDeviation(y) ?? 0, 2) * Double(y.count - 1)
        guard total > 0 else { return 0 }
        var press = 0.0
        for i in y.indices {
            var rows = design, ys = y
            rows.remove(at: i)
            ys.remove(at: i)
            guard let model = try? LinearModel.fit(design: rows, y: ys) else { return .nan }
            let e = y[i] - model.predict(design[i])
            press += e * e
        }
        return 1 - press / total
    }

    func run() async throws {
        let configurations = try await BenchConfiguration.load(directory: selection.dir, only: selection.names)
        let truths = try await GroundTruthSearch.truths(
            for: configurations, path: (selection.dir as NSString).appendingPathComponent("truths.json"), recompute: false,
            settings: TruthSettings(), jobs: parallel.jobs, command: "metron-bench accuracy --truths-only")
        let window = ProbeWindow(), rules = ValidityRules()
        out("control variates: \(probes) probes of \(window.plannedRequests(bracketing: false)) requests per rate; "
            + "share of the attainment's variance removed out of sample (leave-one-out)")
        out("configuration                            rate/truth  sd of attainment  " + Self.featureNames.map { pad($0, 14) }.joined() + "all")
        for c in configurations {
            let truth = truths[c.name]!.truthQPS
            for relative in relativeRates.values {
                let rate = ProbeRequest.round(truth * relative)
                let rows = try await concurrentMap(Array(0..<probes), jobs: parallel.jobs) { k -> ([Double], Double) in
                    var workload = c.workload
                    workload.seed = 9_000_000 &+ UInt64(k) &* 7919
                    let runner = VirtualProbeRunner(
                        config: c.simulator, planner: ProbePlanner(workload: workload, window: window, minRequests: rules.minRequests),
                        drainGraceS: rules.drainGraceS)
                    let m = try await runner.probe(ProbeRequest(rate: rate))
                    let result = ProbeResult(m, slo: c.slo, rules: rules)
                    return (Self.features(m), result.attainmentPoint.attainment)
                }
                let x = rows.map(\.0), y = rows.map(\.1)
                let sd = Stats.standardDeviation(y) ?? .nan
                let single = Self.featureNames.indices.map { Self.varianceRemoved(x, y, columns: [$0]) }
                let all = Self.varianceRemoved(x, y, columns: Array(Self.featureNames.indices))
                out(pad(c.name, 40) + String(format: " %9.2f  %16.4f  ", relative, sd)
                    + single.map { pad(String(format: "%+.2f", $0), 14) }.joined() + String(format: "%+.2f", all))
            }
        }
    }
}
