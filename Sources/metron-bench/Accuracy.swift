import Foundation
import MetronCore
import MetronSearch
import MetronSearchTesting
import MetronSimModel

/// The capacity search against a ground truth, in virtual time: the quickstart's H100 systems (both
/// schedulers), its chat workload and its P99 fluidity SLO; for each system a long fine-grained sweep
/// gives the true capacity (`VirtualGroundTruth`), then every strategy searches it once per seed.
enum AccuracyBenchmark {
    struct Options {
        var sweepPath = "sweeps/quickstart.yaml"
        var systems = ["h100-vllm", "h100-sarathi"]
        var seeds = 20
        var truthProbes = 100
        var fineStep = 0.25
        var durationS = 60.0
        var warmupS = 10.0
        /// Also run the fitted search with half the default probe budget.
        var halfBudget = true
    }

    /// The searches compared: the fitted search and bisection with the default settings, and the fitted
    /// search with half the default budget (so at most half of bisection's probe time when bisection
    /// spends the whole budget).
    static func variants(_ settings: SearchSettings, halfBudget: Bool) -> [(String, SearchStrategy, Int)] {
        var out: [(String, SearchStrategy, Int)] = [("fitted", .fitted, settings.probeBudget), ("bisect", .bisect, settings.probeBudget)]
        if halfBudget { out.append(("fitted/\(settings.probeBudget / 2)", .fitted, settings.probeBudget / 2)) }
        return out
    }

    struct Row {
        var system: String
        /// "fitted", "bisect", or "fitted/N" for the fitted search with a budget of N probes.
        var strategy: String
        var seed: UInt64
        var result: CapacityResult
        var probeTimeS: Double
        var error: Double?
        var contains: Bool
        /// Whether the interval contains the rate where half of the ground truth's probes pass.
        var containsHalfPass: Bool
    }

    static func parse(_ arguments: [String]) -> Options? {
        var o = Options()
        var i = 0
        while i < arguments.count {
            guard i + 1 < arguments.count else { return nil }
            let v = arguments[i + 1]
            switch arguments[i] {
            case "--sweep": o.sweepPath = v
            case "--systems": o.systems = v.split(separator: ",").map(String.init)
            case "--seeds": guard let n = Int(v), n > 0 else { return nil }; o.seeds = n
            case "--truth-probes": guard let n = Int(v), n > 0 else { return nil }; o.truthProbes = n
            case "--fine-step": guard let x = Double(v), x > 0 else { return nil }; o.fineStep = x
            case "--duration": guard let x = Double(v), x > 0 else { return nil }; o.durationS = x
            case "--warmup": guard let x = Double(v), x >= 0 else { return nil }; o.warmupS = x
            default: return nil
            }
            i += 2
        }
        return o
    }

    static func run(_ o: Options) async throws {
        var sweep = try SweepFile.load(path: o.sweepPath)
        // The search's and the probes' defaults, with the quickstart's start rate: the settings a user
        // gets unless they tune them.
        var settings = SearchSettings()
        settings.startRate = sweep.search.startRate
        var window = ProbeWindow()
        window.durationS = o.durationS
        window.warmupS = o.warmupS
        sweep.probe = window
        let rules = ValidityRules()
        guard let workload = sweep.workloads.first, let sloSpec = sweep.slos.first else {
            throw SweepError.cannotMeasure(system: "-", "the sweep has no workload or SLO")
        }
        out("sweep \(sweep.name), workload \(workload.name)")
        out("search: defaults (relative_ci_width \(settings.relativeCIWidth), probe_budget \(settings.probeBudget), "
              + "confidence \(settings.confidence)), start_rate \(settings.startRate); probes: warm-up \(window.warmupS) s, "
              + "window \(window.durationS) s, min_requests \(rules.minRequests); \(o.seeds) seeds")
        // First-token deadlines as the sweep sets them (the quickstart: the H100/vLLM system's prefill
        // model for every system), each model profiled once in virtual time.
        var prefillModels: [String: PrefillModel] = [:]
        func slo(for system: String) async throws -> SLO {
            guard let source = sloSpec.prefillSystem(for: system) else { return try sloSpec.resolve(prefill: nil) }
            if prefillModels[source] == nil {
                guard let spec = sweep.systems.first(where: { $0.name == source }), case let .simulator(sim) = spec.target else {
                    throw SweepError.cannotMeasure(system: source, "its prefill model cannot be profiled in virtual time")
                }
                let planner = ProbePlanner(workload: workload.spec, window: window, minRequests: rules.minRequests)
                prefillModels[source] = try await PrefillProfiler.profile(
                    sweep.prefill, runner: VirtualProbeRunner(config: sim.config, planner: planner, drainGraceS: rules.drainGraceS),
                    system: source)
            }
            return try sloSpec.resolve(prefill: prefillModels[source])
        }

        var rows: [Row] = []
        for name in o.systems {
            guard let system = sweep.systems.first(where: { $0.name == name }), case let .simulator(spec) = system.target else {
                throw SweepError.cannotMeasure(system: name, "not a simulator system of \(o.sweepPath)")
            }
            let slo = try await slo(for: name)
            out("\n\(name): SLO \(slo.summary)")
            let planner = ProbePlanner(workload: workload.spec, window: window, minRequests: rules.minRequests)
            let started = now()
            let truth = VirtualGroundTruth(config: spec.config, planner: planner, slo: slo, rules: rules, probesPerRate: o.truthProbes)
            let measured = try truth.locate(maxRate: 200, coarseStep: 1, coarseProbes: max(4, o.truthProbes / 10),
                                            fineStep: o.fineStep, fineSpan: 2) { p in
                out(String(format: "coarse scan: %.3f req/s attainment %.5f, %.2f of %d probes pass, %.2f valid",
                             p.rate, p.attainment, p.passFraction, p.probes, p.validFraction))
            }
            guard let capacity = measured.capacity else {
                throw SweepError.cannotMeasure(system: name, "the ground-truth sweep found no crossing")
            }
            let halfPass = measured.medianPassRate ?? .nan
            out(String(format: "\n## %@: ground truth %.3f req/s (half of the probes pass at %@), %d rates x %d probes, %.1f s",
                         name, capacity, measured.medianPassRate.map { String(format: "%.3f", $0) } ?? "-",
                         measured.points.count, o.truthProbes, now() - started))
            out("rate     attainment  pass   valid")
            for p in measured.points {
                out(String(format: "%7.3f  %.5f     %.2f   %.2f", p.rate, p.attainment, p.passFraction, p.validFraction))
            }
            out("strategy seed  max_qps  ci_low   ci_high  probes probe_s  error    contains stop")
            for (label, strategy, budget) in variants(settings, halfBudget: o.halfBudget) {
                for seed in 1...UInt64(o.seeds) {
                    var w = workload.spec
                    w.seed = seed
                    var s = settings
                    s.strategy = strategy
                    s.probeBudget = budget
                    let runner = VirtualProbeRunner(
                        config: spec.config, planner: ProbePlanner(workload: w, window: window, minRequests: rules.minRequests),
                        drainGraceS: rules.drainGraceS)
                    let result = try await CapacitySearch(runner: runner, slo: slo, rules: rules, settings: s).run()
                    let time = result.probes.reduce(0.0) {
                        $0 + window.warmupS + window.measurementS(rate: $1.rate, minRequests: rules.minRequests)
                    }
                    let error = result.maxQPS.map { abs($0 - capacity) / capacity }
                    var contains = false, containsHalfPass = false
                    if let lo = result.ciLow, let hi = result.ciHigh {
                        contains = lo <= capacity && capacity <= hi
                        containsHalfPass = lo <= halfPass && halfPass <= hi
                    }
                    let row = Row(system: name, strategy: label, seed: seed, result: result, probeTimeS: time,
                                  error: error, contains: contains, containsHalfPass: containsHalfPass)
                    rows.append(row)
                    out(String(format: "%-9@ %4d  %@ %@ %@ %6d %7.0f  %@ %@ %@",
                                 label, seed, f(result.maxQPS), f(result.ciLow),
                                 f(result.ciHigh), result.probes.count, time,
                                 error.map { String(format: "%6.2f%%", $0 * 100) } ?? "   -   ",
                                 contains ? "yes     " : "no      ", result.stopReason.rawValue))
                }
            }
        }

        out("\n## summary")
        out("system        strategy   searches  mean|err|  median|err|  max|err|  contains  contains half-pass  mean probes  mean probe time  time ratio")
        for name in o.systems {
            let bisectTime = mean(rows.filter { $0.system == name && $0.strategy == "bisect" }.map(\.probeTimeS))
            for (strategy, _, _) in variants(settings, halfBudget: o.halfBudget) {
                let group = rows.filter { $0.system == name && $0.strategy == strategy }
                // A search with no answer counts as a 100 % error.
                let errors = group.map { $0.error ?? 1 }.sorted()
                let time = mean(group.map(\.probeTimeS))
                out(String(format: "%-13@ %-9@  %8d  %8.2f%%  %10.2f%%  %7.2f%%  %4d/%-4d  %8d/%-8d  %11.1f  %13.0f s  %10.2f",
                             name, strategy, group.count, mean(errors) * 100, errors[errors.count / 2] * 100,
                             (errors.last ?? 0) * 100, group.filter(\.contains).count, group.count,
                             group.filter(\.containsHalfPass).count, group.count,
                             mean(group.map { Double($0.result.probes.count) }), time, time / bisectTime))
            }
        }
        let fitted = rows.filter { $0.strategy == "fitted" }, bisect = rows.filter { $0.strategy == "bisect" }
        out(String(format: "all systems: fitted mean|err| %.2f%%, bisect mean|err| %.2f%%; fitted intervals contain the truth in %d of %d searches (%.0f%%); probe time fitted/bisect %.2f",
                     mean(fitted.map { $0.error ?? 1 }) * 100, mean(bisect.map { $0.error ?? 1 }) * 100,
                     fitted.filter(\.contains).count, fitted.count,
                     Double(fitted.filter(\.contains).count) / Double(max(fitted.count, 1)) * 100,
                     mean(fitted.map(\.probeTimeS)) / mean(bisect.map(\.probeTimeS))))
        for (label, _, _) in variants(settings, halfBudget: o.halfBudget) where label.hasPrefix("fitted/") {
            let half = rows.filter { $0.strategy == label }
            out(String(format: "%@ (half the default budget): mean|err| %.2f%%, intervals contain the truth in %d of %d; probe time %@/bisect %.2f",
                       label, mean(half.map { $0.error ?? 1 }) * 100, half.filter(\.contains).count, half.count, label,
                       mean(half.map(\.probeTimeS)) / mean(bisect.map(\.probeTimeS))))
        }
        let stops = Dictionary(grouping: fitted, by: { $0.result.stopReason.rawValue }).mapValues(\.count)
        out("fitted stop reasons: " + stops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }

    /// Unbuffered, so that a long run shows its progress.
    static func out(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    static func f(_ x: Double?) -> String { x.map { String(format: "%7.3f", $0) } ?? "   -   " }

    static func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }
}
