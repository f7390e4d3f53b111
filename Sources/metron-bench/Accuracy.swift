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
        /// Ground truth: this many long runs per grid rate, each with a window of `truthDurationS`.
        var truthProbes = 40
        var truthDurationS = 600.0
        var fineStep = 0.25
        var durationS = 60.0
        var warmupS = 10.0
        /// Also run the fitted search with each of these probe budgets (by default half the default budget).
        var smallerBudgets = [SearchSettings().probeBudget / 2]
        /// The fitted search's `relative_ci_width` (nil: the default).
        var relativeCIWidth: Double?
        /// Print every search's probes and fitted curve.
        var showProbes = false
        /// `probe.plan_per_rate`: false replays one plan at every rate.
        var planPerRate = true
        /// Known true capacities by system (from an earlier run's ground truth): skips measuring them.
        var truths: [String: Double] = [:]
    }

    /// The searches compared: the fitted search and bisection with the default settings, and the fitted
    /// search with smaller budgets (half the default budget takes at most half of bisection's probe
    /// time when bisection spends the whole budget).
    static func variants(_ settings: SearchSettings, smallerBudgets: [Int]) -> [(String, SearchStrategy, Int)] {
        [("fitted", .fitted, settings.probeBudget), ("bisect", .bisect, settings.probeBudget)]
            + smallerBudgets.map { ("fitted/\($0)", .fitted, $0) }
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

        /// (ci_high - ci_low) / max_qps: a wide interval contains the truth cheaply.
        var relativeWidth: Double? {
            guard let q = result.maxQPS, q > 0, let lo = result.ciLow, let hi = result.ciHigh else { return nil }
            return (hi - lo) / q
        }
    }

    static func parse(_ arguments: [String]) -> Options? {
        var o = Options()
        let parsed = parseOptions(arguments, flags: ["--show-probes"]) { name, v in
            switch name {
            case "--show-probes": o.showProbes = true
            case "--plan-per-rate": guard let b = Bool(v) else { return false }; o.planPerRate = b
            case "--sweep": o.sweepPath = v
            case "--systems": o.systems = v.split(separator: ",").map(String.init)
            case "--seeds": guard let n = Int(v), n > 0 else { return false }; o.seeds = n
            case "--truth-probes": guard let n = Int(v), n > 0 else { return false }; o.truthProbes = n
            case "--truth-duration": guard let x = Double(v), x > 0 else { return false }; o.truthDurationS = x
            case "--truth":
                for pair in v.split(separator: ",") {
                    let kv = pair.split(separator: "=")
                    guard kv.count == 2, let x = Double(kv[1]), x > 0 else { return false }
                    o.truths[String(kv[0])] = x
                }
            case "--budgets": guard let budgets: [Int] = positiveNumbers(v) else { return false }; o.smallerBudgets = budgets
            case "--fine-step": guard let x = Double(v), x > 0 else { return false }; o.fineStep = x
            case "--relative-ci-width": guard let x = Double(v), x > 0 else { return false }; o.relativeCIWidth = x
            case "--duration": guard let x = Double(v), x > 0 else { return false }; o.durationS = x
            case "--warmup": guard let x = Double(v), x >= 0 else { return false }; o.warmupS = x
            default: return false
            }
            return true
        }
        return parsed ? o : nil
    }

    static func run(_ o: Options) async throws {
        var sweep = try SweepFile.load(path: o.sweepPath)
        // The search's and the probes' defaults, with the quickstart's start rate: the settings a user
        // gets unless they tune them.
        var settings = SearchSettings()
        settings.startRate = sweep.search.startRate
        if let w = o.relativeCIWidth { settings.relativeCIWidth = w }
        var window = ProbeWindow()
        window.durationS = o.durationS
        window.warmupS = o.warmupS
        window.planPerRate = o.planPerRate
        sweep.probe = window
        let rules = ValidityRules()
        guard let workload = sweep.workloads.first, !sweep.slos.isEmpty else {
            throw SweepError.cannotMeasure(system: "-", "the sweep has no workload or SLO")
        }
        out("sweep \(sweep.name), workload \(workload.name)")
        out("search: (relative_ci_width \(settings.relativeCIWidth), probe_budget \(settings.probeBudget), "
              + "confidence \(settings.confidence)), start_rate \(settings.startRate); probes: warm-up \(window.warmupS) s, "
              + "window \(window.durationS) s, min_requests \(rules.minRequests); \(o.seeds) seeds")
        var rows: [Row] = []
        for name in o.systems {
            guard let system = sweep.systems.first(where: { $0.name == name }), case let .simulator(spec) = system.target else {
                throw SweepError.cannotMeasure(system: name, "not a simulator system of \(o.sweepPath)")
            }
            let planner = ProbePlanner(workload: workload.spec, window: window, minRequests: rules.minRequests)
            let slo = try await virtualSLO(sweep, system: name, planner: planner, rules: rules)
            out("\n\(name): SLO \(slo.summary)")
            let started = now()
            let capacity: Double
            if let known = o.truths[name] {
                capacity = known
                out(String(format: "\n## %@: ground truth %.3f req/s (given)", name, capacity))
            } else {
                var longRuns = planner
                longRuns.window.durationS = o.truthDurationS
                let truth = VirtualGroundTruth(config: spec.config, planner: longRuns, slo: slo, rules: rules, probesPerRate: o.truthProbes)
                let measured = try truth.locate(maxRate: 200, coarseStep: 1, coarseProbes: max(4, o.truthProbes / 10),
                                                fineStep: o.fineStep, fineSpan: 2) { p in
                    out(String(format: "coarse scan: %.3f req/s attainment %.5f, %.2f of %d probes pass, %.2f valid",
                                 p.rate, p.attainment, p.passFraction, p.probes, p.validFraction))
                }
                guard let measuredCapacity = measured.capacity else {
                    throw SweepError.cannotMeasure(system: name, "the ground-truth sweep found no crossing")
                }
                out(String(format: "\n## %@: ground truth %.3f req/s, %d rates x %d runs of %.0f s, %.1f s",
                             name, measuredCapacity, measured.points.count, o.truthProbes, o.truthDurationS, now() - started))
                out("rate     attainment  pass   valid")
                for p in measured.points {
                    out(String(format: "%7.3f  %.5f     %.2f   %.2f", p.rate, p.attainment, p.passFraction, p.validFraction))
                }
                capacity = measuredCapacity
            }
            out("strategy seed  max_qps  ci_low   ci_high  probes probe_s  error    contains stop")
            for (label, strategy, budget) in variants(settings, smallerBudgets: o.smallerBudgets) {
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
                        $0 + window.warmupS + window.measurementS(rate: $1.rate, minRequests: rules.minRequests,
                                                                  bracketing: $1.request.bracketing)
                    }
                    let error = result.maxQPS.map { abs($0 - capacity) / capacity }
                    let contains = result.ciLow.map { $0 <= capacity } == true && result.ciHigh.map { capacity <= $0 } == true
                    let row = Row(system: name, strategy: label, seed: seed, result: result, probeTimeS: time,
                                  error: error, contains: contains)
                    rows.append(row)
                    out(String(format: "%-9@ %4d  %@ %@ %@ %6d %7.0f  %@ %@ %@",
                                 label, seed, f(result.maxQPS), f(result.ciLow),
                                 f(result.ciHigh), result.probes.count, time,
                                 error.map { String(format: "%6.2f%%", $0 * 100) } ?? "   -   ",
                                 contains ? "yes     " : "no      ", result.stopReason.rawValue))
                    if o.showProbes {
                        out("    probes: " + result.probes.map {
                            String(format: "%.3f%@ %.4f (%d)", $0.rate, $0.valid ? "" : " invalid", $0.attainment, $0.requests)
                        }.joined(separator: ", "))
                        if let c = result.curve {
                            out(String(format: "    curve: midpoint %.3f, scale %.3f, dispersion %.2f (%d dof)", c.midpoint, c.scale,
                                       c.dispersion, c.dispersionDegreesOfFreedom))
                        }
                    }
                }
            }
        }

        out("\n## summary")
        out("system        strategy   searches  mean|err|  median|err|  max|err|  contains  mean width  mean probes  mean probe time  time ratio")
        for name in o.systems {
            let bisectTime = mean(rows.filter { $0.system == name && $0.strategy == "bisect" }.map(\.probeTimeS))
            for (strategy, _, _) in variants(settings, smallerBudgets: o.smallerBudgets) {
                let group = rows.filter { $0.system == name && $0.strategy == strategy }
                // A search with no answer counts as a 100 % error.
                let errors = group.map { $0.error ?? 1 }.sorted()
                let time = mean(group.map(\.probeTimeS))
                let widths = group.compactMap(\.relativeWidth)
                out(String(format: "%-13@ %-9@  %8d  %8.2f%%  %10.2f%%  %7.2f%%  %4d/%-4d  %10.3f  %11.1f  %13.0f s  %10.2f",
                             name, strategy, group.count, mean(errors) * 100, errors[errors.count / 2] * 100,
                             (errors.last ?? 0) * 100, group.filter(\.contains).count, group.count, mean(widths),
                             mean(group.map { Double($0.result.probes.count) }), time, time / bisectTime))
            }
        }
        let fitted = rows.filter { $0.strategy == "fitted" }, bisect = rows.filter { $0.strategy == "bisect" }
        out(String(format: "all systems: fitted mean|err| %.2f%%, bisect mean|err| %.2f%%; fitted intervals contain the truth in %d of %d searches (%.0f%%); probe time fitted/bisect %.2f",
                     mean(fitted.map { $0.error ?? 1 }) * 100, mean(bisect.map { $0.error ?? 1 }) * 100,
                     fitted.filter(\.contains).count, fitted.count,
                     Double(fitted.filter(\.contains).count) / Double(max(fitted.count, 1)) * 100,
                     mean(fitted.map(\.probeTimeS)) / mean(bisect.map(\.probeTimeS))))
        for (label, _, _) in variants(settings, smallerBudgets: o.smallerBudgets) where label.hasPrefix("fitted/") {
            let group = rows.filter { $0.strategy == label }
            out(String(format: "%@: mean|err| %.2f%%, intervals contain the truth in %d of %d; probe time %@/bisect %.2f",
                       label, mean(group.map { $0.error ?? 1 }) * 100, group.filter(\.contains).count, group.count, label,
                       mean(group.map(\.probeTimeS)) / mean(bisect.map(\.probeTimeS))))
        }
        let stops = Dictionary(grouping: fitted, by: { $0.result.stopReason.rawValue }).mapValues(\.count)
        out("fitted stop reasons: " + stops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }

    /// Unbuffered, so that a long run shows its progress.
    static func out(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    static func f(_ x: Double?) -> String { x.map { String(format: "%7.3f", $0) } ?? "   -   " }

    static func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }
}

/// The sweep's first SLO for `system`, its first-token deadlines from the prefill model the SLO names
/// (the quickstart: the H100/vLLM system's for every system), profiled in virtual time.
func virtualSLO(_ sweep: SweepFile, system: String, planner: ProbePlanner, rules: ValidityRules) async throws -> SLO {
    guard let sloSpec = sweep.slos.first else { throw SweepError.cannotMeasure(system: system, "the sweep has no SLO") }
    guard let source = sloSpec.prefillSystem(for: system) else { return try sloSpec.resolve(prefill: nil) }
    guard let spec = sweep.systems.first(where: { $0.name == source }), case let .simulator(sim) = spec.target else {
        throw SweepError.cannotMeasure(system: source, "its prefill model cannot be profiled in virtual time")
    }
    let model = try await PrefillProfiler.profile(
        sweep.prefill, runner: VirtualProbeRunner(config: sim.config, planner: planner, drainGraceS: rules.drainGraceS), system: source)
    return try sloSpec.resolve(prefill: model)
}
