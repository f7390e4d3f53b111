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
enum ControlVariates {
    struct Options {
        var directory = "bench/accuracy"
        var configurations: [String]?
        var probes = 60
        var relativeRates: [Double] = [0.95, 1.0, 1.05]
        var jobs = 2
    }

    static let usage = "[--configs A,B] [--probes N] [--relative-rates 0.95,1,1.05] [--dir DIR] [--jobs N]"

    static func parse(_ arguments: [String]) -> Options? {
        var o = Options()
        let parsed = parseOptions(arguments) { name, v in
            switch name {
            case "--dir": o.directory = v
            case "--configs": o.configurations = v.split(separator: ",").map(String.init)
            case "--probes": guard let n = Int(v), n >= 10 else { return false }; o.probes = n
            case "--relative-rates": guard let r: [Double] = positiveNumbers(v) else { return false }; o.relativeRates = r
            case "--jobs": guard let n = Int(v), n > 0 else { return false }; o.jobs = n
            default: return false
            }
            return true
        }
        return parsed ? o : nil
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
        let binMean = bins.reduce(0, +) / 50
        let fano = binMean > 0 ? bins.reduce(0) { $0 + ($1 - binMean) * ($1 - binMean) } / 49 / binMean : 1
        return [Double(window.count), output, prompt, fano]
    }

    /// 1 - PRESS / total sum of squares, for the regression of `y` on an intercept and `columns` of `x`.
    static func varianceRemoved(_ x: [[Double]], _ y: [Double], columns: [Int]) -> Double {
        let design = x.map { row in [1] + columns.map { row[$0] } }
        let mean = y.reduce(0, +) / Double(y.count)
        let total = y.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
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

    static func run(_ o: Options) async throws {
        let configurations = try await BenchConfiguration.load(directory: o.directory, only: o.configurations)
        let truths = try await GroundTruthSearch.truths(
            for: configurations, path: (o.directory as NSString).appendingPathComponent("truths.json"), recompute: false,
            settings: TruthSettings(), jobs: o.jobs, command: "metron-bench accuracy --truths-only")
        let window = ProbeWindow(), rules = ValidityRules()
        out("control variates: \(o.probes) probes of \(window.plannedRequests(bracketing: false)) requests per rate; "
            + "share of the attainment's variance removed out of sample (leave-one-out)")
        out("configuration                            rate/truth  sd of attainment  " + featureNames.map { pad($0, 14) }.joined() + "all")
        for c in configurations {
            let truth = truths[c.name]!.truthQPS
            for relative in o.relativeRates {
                let rate = ProbeRequest.round(truth * relative)
                let rows = try await concurrentMap(Array(0..<o.probes), jobs: o.jobs) { k -> ([Double], Double) in
                    var workload = c.workload
                    workload.seed = 9_000_000 &+ UInt64(k) &* 7919
                    let runner = VirtualProbeRunner(
                        config: c.simulator, planner: ProbePlanner(workload: workload, window: window, minRequests: rules.minRequests),
                        drainGraceS: rules.drainGraceS)
                    let m = try await runner.probe(ProbeRequest(rate: rate))
                    let result = ProbeResult(m, slo: c.slo, rules: rules)
                    return (features(m), result.attainmentPoint.attainment)
                }
                let x = rows.map(\.0), y = rows.map(\.1)
                let mean = y.reduce(0, +) / Double(y.count)
                let sd = (y.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(y.count - 1)).squareRoot()
                let single = featureNames.indices.map { varianceRemoved(x, y, columns: [$0]) }
                let all = varianceRemoved(x, y, columns: Array(featureNames.indices))
                out(pad(c.name, 40) + String(format: " %9.2f  %16.4f  ", relative, sd)
                    + single.map { pad(String(format: "%+.2f", $0), 14) }.joined() + String(format: "%+.2f", all))
            }
        }
    }
}
