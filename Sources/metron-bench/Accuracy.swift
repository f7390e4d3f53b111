import ArgumentParser
import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronTestSupport
import MetronSimModel

/// The capacity search against ground truths, in virtual time, on the configurations of
/// `bench/accuracy/` (systems, workloads and SLOs of several GPUs, models, parallelism degrees and
/// schedulers): per configuration and seed, the fitted search at each budget and the reference
/// bisection, all with the default search and probe settings and the configuration's start rate.
struct AccuracyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accuracy", abstract: "The capacity search against stored ground truths, in virtual time.")

    @OptionGroup var selection: ConfigurationOptions
    @OptionGroup var searches: SearchOptions

    @Option(name: .customLong("truths"), help: "The ground truths file (default: truths.json in --dir).")
    var truthsPath: String?

    @OptionGroup var truthOptions: TruthOptions

    @Flag(help: "Measure and print the ground truths only, no searches.")
    var truthsOnly = false

    @Flag(help: "Place every stored truth again from its stored long runs, running nothing.")
    var refitTruths = false

    @Option(help: "Each long run of a ground truth lasts at least this many seconds.")
    var truthDuration = TruthSettings().runDurationS

    @Option(help: "Each long run of a ground truth holds at least this many requests.")
    var truthRequests = TruthSettings().runRequests

    @Option(help: "A ground truth's bracket is bisected until narrower than this share of its lower end.")
    var truthPrecision = TruthSettings().precision

    @OptionGroup var parallel: JobOptions

    @Flag(help: "Print the probes of every search.")
    var showProbes = false

    func validate() throws {
        if truthDuration <= 0 { throw ValidationError("--truth-duration must be positive, got \(truthDuration)") }
        if truthRequests < 0 { throw ValidationError("--truth-requests must not be negative, got \(truthRequests)") }
        if truthPrecision <= 0 { throw ValidationError("--truth-precision must be positive, got \(truthPrecision)") }
    }

    var truthsFile: String { truthsPath ?? (selection.dir as NSString).appendingPathComponent("truths.json") }
    var variants: [SearchVariant] { searches.budgets.values.map(SearchVariant.fitted(budget:)) + [.bisect] }

    var truth: TruthSettings {
        var settings = truthOptions.settings
        settings.runDurationS = truthDuration
        settings.runRequests = truthRequests
        settings.precision = truthPrecision
        return settings
    }

    struct Row: Sendable {
        var configuration: String
        var variant: SearchVariant
        var seed: UInt64
        var result: CapacityResult
        var probeTimeS: Double
        var truth: Double
        /// |max_qps - truth| / truth; a search with no answer counts as 1.
        var error: Double
        /// An answer's interval is bounded on both sides and contains the truth, or a result that is not
        /// determined gives a range (open on either side) that contains it.
        var contains: Bool
        /// Not determined, and the range it gives is open on both sides: it says nothing.
        var saysNothing: Bool { result.maxQPS == nil && result.ciLow == nil && result.ciHigh == nil }

        /// (ci_high - ci_low) / max_qps; nil when the interval is unbounded or absent.
        var relativeWidth: Double? {
            guard let q = result.maxQPS, q > 0, let lo = result.ciLow, let hi = result.ciHigh else { return nil }
            return (hi - lo) / q
        }

        init(configuration: String, variant: SearchVariant, seed: UInt64, result: CapacityResult, truth: Double) {
            self.configuration = configuration
            self.variant = variant
            self.seed = seed
            self.result = result
            self.truth = truth
            probeTimeS = searchProbeTimeS(result)
            error = result.maxQPS.map { abs($0 - truth) / truth } ?? 1
            if result.maxQPS != nil {
                contains = (result.ciLow.map { $0 <= truth } ?? false) && (result.ciHigh.map { truth <= $0 } ?? false)
            } else {
                // Not determined: the range it gives, open on a side no probe settles.
                contains = result.undetermined != nil && (result.ciLow ?? 0) <= truth && truth <= (result.ciHigh ?? .infinity)
            }
        }
    }

    func run() async throws {
        let configurations = try await BenchConfiguration.load(directory: selection.dir, only: selection.names)
        let command = "metron-bench accuracy --dir \(selection.dir) --truths-only --recompute-truths --truth-runs \(truthOptions.truthRuns) "
            + "--truth-duration \(truthDuration) --truth-requests \(truthRequests) --truth-precision \(truthPrecision)"
            + (selection.names.map { " --configs \($0.joined(separator: ","))" } ?? "")
        let truths = try await GroundTruthSearch.truths(
            for: configurations, path: truthsFile, recompute: truthOptions.recomputeTruths, settings: truth, jobs: parallel.jobs,
            command: command, refit: refitTruths)
        out("## configurations and ground truths (\(truthsFile))")
        out("configuration                            truth     +-1 se (rel)        long rates  truth cost")
        for c in configurations {
            let t = truths[c.name]!
            out(String(format: "%@ %8.3f  %@  %10d  %8.0f s", pad(c.name, 40), t.truthQPS, pad(t.uncertaintyText, 18),
                       t.points.count, t.seconds))
            out("    \(c.summary); start_rate \(c.startRate)")
        }
        if truthsOnly { return }

        let defaults = SearchSettings(), window = ProbeWindow()
        out("\nsearch: defaults (relative_ci_width \(defaults.relativeCIWidth), confidence \(defaults.confidence), "
            + "growth_factor \(defaults.growthFactor)), start rate per configuration; probes: warm-up \(window.warmupS) s, "
            + "windows of \(window.plannedRequests(bracketing: false)) requests (\(window.plannedRequests(bracketing: true)) bracketing), "
            + "min_requests \(ValidityRules().minRequests); "
            + "\(searches.seeds) seeds; variants \(variants.map(\.label).joined(separator: ", "))")
        var rows: [Row] = []
        for c in configurations {
            let truth = truths[c.name]!.truthQPS
            out(String(format: "\n## %@ (truth %.3f req/s)", c.name, truth))
            out("variant    seed  max_qps    ci_low   ci_high   probes  probe_s   error    contains  stop")
            let jobs = variants.flatMap { v in (1...UInt64(searches.seeds)).map { (v, $0) } }
            let started = now()
            let results = try await concurrentMap(jobs, jobs: parallel.jobs) { v, seed in
                Row(configuration: c.name, variant: v, seed: seed, result: try await searchOnce(c, seed: seed, variant: v), truth: truth)
            }
            for row in results {
                let r = row.result
                out(String(format: "%@ %5d  %@  %@  %@  %6d  %7.0f  %6.2f%%  %@  %@", pad(row.variant.label, 9), row.seed,
                           Self.f(r.maxQPS), Self.f(r.ciLow), Self.f(r.ciHigh), r.probes.count, row.probeTimeS, row.error * 100,
                           row.contains ? "yes     " : "no      ", r.stopReason.rawValue))
                if showProbes {
                    out("    probes: " + r.probes.map {
                        String(format: "%.3f%@ %.4f (%d)", $0.rate, $0.valid ? "" : " invalid", $0.attainment, $0.requests)
                    }.joined(separator: ", "))
                    if let why = r.undetermined { out("    not determined: \(why)") }
                }
            }
            out(String(format: "(%.0f s of computing)", now() - started))
            Self.summary(results, title: c.name, variants: variants)
            rows += results
        }
        out("\n## summary over all \(configurations.count) configurations")
        out(Self.summaryHeader)
        for c in configurations {
            Self.summaryLines(rows.filter { $0.configuration == c.name }, title: c.name, variants: variants).forEach(out)
        }
        Self.summaryLines(rows, title: "all", variants: variants).forEach(out)
        // The pooled ratio above weighs configurations by their probe time (long prompts dominate it).
        for v in variants {
            let ratios = configurations.map { c in
                let group = rows.filter { $0.configuration == c.name }
                return mean(group.filter { $0.variant == v }.map(\.probeTimeS)) / mean(group.filter { $0.variant == .bisect }.map(\.probeTimeS))
            }
            out(String(format: "%@ probe time / bisect's, per configuration: median %.2f, range %.2f to %.2f", v.label,
                       median(ratios), ratios.min() ?? .nan, ratios.max() ?? .nan))
        }
        for v in variants {
            let stops = Dictionary(grouping: rows.filter { $0.variant == v }, by: { $0.result.stopReason.rawValue }).mapValues(\.count)
            out("\(v.label) stop reasons: " + stops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
    }

    static let summaryHeader = "configuration                            variant    searches  contains        mean|err|  median|err|  "
        + "bias      median width  mean probe time  time/bisect  | not determined  open range  answered: contains  mean|err|  median width"

    static func summary(_ rows: [Row], title: String, variants: [SearchVariant]) {
        out(summaryHeader)
        summaryLines(rows, title: title, variants: variants).forEach(out)
    }

    /// Per variant: coverage, error, width, and probe time against bisection's over the same rows.
    static func summaryLines(_ rows: [Row], title: String, variants: [SearchVariant]) -> [String] {
        let bisectTime = mean(rows.filter { $0.variant == .bisect }.map(\.probeTimeS))
        return variants.map { v in
            let group = rows.filter { $0.variant == v }
            let contained = group.filter(\.contains).count
            // An unbounded or absent interval has no width: it counts as infinitely wide.
            let widths = group.map { $0.relativeWidth ?? .infinity }
            let time = mean(group.map(\.probeTimeS))
            // Bias: the mean signed error of the searches that gave an answer.
            let signed = group.compactMap { r in r.result.maxQPS.map { $0 / r.truth - 1 } }
            // The searches that gave a number: whether that number and its interval can be trusted.
            let answered = group.filter { $0.result.maxQPS != nil }
            let answeredContained = answered.filter(\.contains).count
            let line = String(format: "%@ %@  %8d  %4d (%5.1f %%)  %8.2f%%  %10.2f%%  %+6.2f%%  %12.3f  %13.0f s  %11.2f",
                              pad(title, 40), pad(v.label, 9), group.count, contained, Double(contained) / Double(max(group.count, 1)) * 100,
                              mean(group.map(\.error)) * 100, median(group.map(\.error)) * 100, mean(signed) * 100, median(widths), time,
                              time / bisectTime)
            return line + String(format: "  | %5d (%5.1f %%)  %10d  %4d of %4d (%5.1f %%)  %8.2f%%  %12.3f",
                                 group.count - answered.count, Double(group.count - answered.count) / Double(max(group.count, 1)) * 100,
                                 group.filter(\.saysNothing).count,
                                 answeredContained, answered.count, Double(answeredContained) / Double(max(answered.count, 1)) * 100,
                                 mean(answered.map(\.error)) * 100, median(answered.map { $0.relativeWidth ?? .infinity }))
        }
    }

    static func f(_ x: Double?) -> String { x.map { String(format: "%8.3f", $0) } ?? "    -   " }
}

/// `s` padded with spaces to `width` (format's `%-20@` does not pad).
func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s.padding(toLength: width, withPad: " ", startingAt: 0) }

func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }

func median(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return .nan }
    let s = xs.sorted(), n = s.count
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

/// The sweep's first SLO for `system`, its first-token deadlines from the prefill model the SLO names
/// (its own, or a reference system's), profiled in virtual time.
func virtualSLO(_ sweep: SweepFile, system: String, planner: ProbePlanner, rules: ValidityRules) async throws -> SLO {
    guard let sloSpec = sweep.slos.first else { throw SweepError.cannotMeasure(system: system, "the sweep has no SLO") }
    guard let source = sloSpec.prefillSystem(for: system) else { return try sloSpec.resolve(prefill: nil) }
    guard let spec = sweep.systems.first(where: { $0.name == source }), case let .simulator(sim) = spec.kind else {
        throw SweepError.cannotMeasure(system: source, "its prefill model cannot be profiled in virtual time")
    }
    let model = try await PrefillProfiler.profile(
        sweep.prefill, runner: VirtualProbeRunner(config: sim, planner: planner, drainGraceS: rules.drainGraceS), system: source)
    return try sloSpec.resolve(prefill: model)
}
