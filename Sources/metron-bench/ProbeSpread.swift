import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronSimModel

/// How much probes of one size disagree near capacity, in virtual time: at each rate, many probes of
/// one quickstart system, their pooled attainment, the spread of their attainments against a binomial
/// count's (the between-probe dispersion), and the dispersion the search estimates from the episodes
/// of misses inside the probes.
enum ProbeSpread {
    struct Options {
        var system = "h100-sarathi"
        var rates: [Double] = [16, 17, 18, 19, 20]
        var probes = 100
        var durationS = 60.0
        var warmupS = 10.0
    }

    static func parse(_ arguments: [String]) -> Options? {
        var o = Options()
        let parsed = parseOptions(arguments) { name, v in
            switch name {
            case "--system": o.system = v
            case "--rates": guard let rates: [Double] = positiveNumbers(v) else { return false }; o.rates = rates
            case "--probes": guard let n = Int(v), n > 1 else { return false }; o.probes = n
            case "--duration": guard let x = Double(v), x > 0 else { return false }; o.durationS = x
            case "--warmup": guard let x = Double(v), x >= 0 else { return false }; o.warmupS = x
            default: return false
            }
            return true
        }
        return parsed ? o : nil
    }

    static func run(_ o: Options) async throws {
        var sweep = try SweepFile.load(path: "sweeps/quickstart.yaml")
        sweep.probe.durationS = o.durationS
        sweep.probe.warmupS = o.warmupS
        let rules = ValidityRules()
        guard let workload = sweep.workloads.first,
              let system = sweep.systems.first(where: { $0.name == o.system }), case let .simulator(spec) = system.target
        else { throw SweepError.cannotMeasure(system: o.system, "not a simulator system of sweeps/quickstart.yaml") }
        let planner = ProbePlanner(workload: workload.spec, window: sweep.probe, minRequests: rules.minRequests)
        let slo = try await virtualSLO(sweep, system: o.system, planner: planner, rules: rules)
        print("\(o.system), \(o.probes) probes per rate, window \(o.durationS) s; SLO \(slo.summary)")
        print("rate     pooled   sd       between  episodes  pass  valid")
        for rate in o.rates {
            var runner = VirtualProbeRunner(config: spec.config, planner: planner, drainGraceS: rules.drainGraceS)
            var attainments: [Double] = [], trials: [Int] = [], episodes: [Double] = []
            var passes = 0, valid = 0
            for k in 0..<o.probes {
                runner.planner.workload.seed = 5_000_000 &+ UInt64(k) &* 7919
                let result = ProbeResult(try await runner.probe(ProbeRequest(rate: rate)), slo: slo, rules: rules)
                attainments.append(result.attainmentPoint.attainment)
                trials.append(result.attainmentPoint.trials)
                episodes += result.slo.missEpisodes
                if result.passed { passes += 1 }
                if result.valid { valid += 1 }
            }
            let n = Double(o.probes)
            let pooled = zip(attainments, trials).reduce(0.0) { $0 + $1.0 * Double($1.1) } / Double(trials.reduce(0, +))
            let mean = attainments.reduce(0, +) / n
            let sd = (attainments.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
            let binomial = pooled * (1 - pooled) / (Double(trials.reduce(0, +)) / n)
            let episodeDispersion = episodes.reduce(0) { $0 + $1 * $1 } / max(episodes.reduce(0, +), 1e-12)
            print(String(format: "%6.2f   %.5f  %.5f  %7.1f  %8.1f  %.2f  %.2f", rate, pooled, sd, sd * sd / binomial,
                         episodeDispersion, Double(passes) / n, Double(valid) / n))
        }
    }
}
