import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronSimModel

/// How often a ranking calls one system "higher than" another, in virtual time:
/// (a) two copies of one configuration, which no ranking should tell apart: searched with the same
///     workload seed (and different simulator seeds), then with independent seeds, as two separate
///     sweeps of one system would be;
/// (b) a pair whose true capacities differ (`bench/pairing/`, truths measured like the accuracy
///     benchmark's), both searched with the same seed as a sweep does: how often the truly higher
///     one is called higher (detection) and how often the lower one is (wrong direction).
enum PairingBenchmark {
    struct Options {
        var identical = "h100-8b-vllm-chat"
        var identicalDirectory = "bench/accuracy"
        var pairDirectory = "bench/pairing"
        var seeds = 30
        var budgets = [6, 12]
        var recomputeTruths = false
        var truth = TruthSettings()
        var jobs = 2
    }

    static let usage = "[--identical CONFIG] [--identical-dir DIR] [--pair-dir DIR] [--seeds N] [--budgets 6,12] "
        + "[--recompute-truths] [--truth-runs N] [--jobs N]"

    static func parse(_ arguments: [String]) -> Options? {
        var o = Options()
        let parsed = parseOptions(arguments, flags: ["--recompute-truths"]) { name, v in
            switch name {
            case "--recompute-truths": o.recomputeTruths = true
            case "--identical": o.identical = v
            case "--identical-dir": o.identicalDirectory = v
            case "--pair-dir": o.pairDirectory = v
            case "--seeds": guard let n = Int(v), n > 0 else { return false }; o.seeds = n
            case "--budgets": guard let budgets: [Int] = positiveNumbers(v) else { return false }; o.budgets = budgets
            case "--jobs": guard let n = Int(v), n > 0 else { return false }; o.jobs = n
            case "--truth-runs": guard let n = Int(v), n > 1 else { return false }; o.truth.runsPerRate = n
            default: return false
            }
            return true
        }
        return parsed ? o : nil
    }

    /// Which of two results a ranking calls higher.
    enum Call: Sendable { case first, second, neither }

    static func call(_ a: CapacityResult, _ b: CapacityResult) -> Call {
        rankedHigher(a, b) ? .first : rankedHigher(b, a) ? .second : .neither
    }

    static func run(_ o: Options) async throws {
        let variants = o.budgets.map(SearchVariant.fitted(budget:))
        let seeds = Array(1...UInt64(o.seeds))

        guard let same = try await BenchConfiguration.load(directory: o.identicalDirectory, only: [o.identical]).first else { return }
        out("## (a) two copies of \(same.name): \(same.summary)")
        out("variant    seeds  same seed: identical results  A higher  B higher  |  independent seeds: A higher  B higher  neither")
        for v in variants {
            let outcomes = try await concurrentMap(seeds, jobs: o.jobs) { seed -> (Bool, Call, Call) in
                let a = try await searchOnce(same, seed: seed, variant: v)
                var other = same.simulator
                other.seed &+= 1
                let b = try await searchOnce(same, seed: seed, variant: v, simulator: other)
                let independent = try await searchOnce(same, seed: seed &+ 100_000, variant: v)
                let identical = a.maxQPS == b.maxQPS && a.ciLow == b.ciLow && a.ciHigh == b.ciHigh
                    && a.probes.map(\.attainment) == b.probes.map(\.attainment)
                return (identical, call(a, b), call(a, independent))
            }
            let n = outcomes.count
            out(String(format: "%@ %6d  %@  %8d  %8d  |  %27d  %8d  %7d", pad(v.label, 9), n,
                       pad("\(outcomes.filter(\.0).count) of \(n)", 28), outcomes.filter { $0.1 == .first }.count,
                       outcomes.filter { $0.1 == .second }.count, outcomes.filter { $0.2 == .first }.count,
                       outcomes.filter { $0.2 == .second }.count, outcomes.filter { $0.2 == .neither }.count))
        }

        let pair = try await BenchConfiguration.load(directory: o.pairDirectory)
        guard pair.count == 2 else {
            throw SweepError.cannotMeasure(system: o.pairDirectory, "expected two configurations, found \(pair.count)")
        }
        let truths = try await GroundTruthSearch.truths(
            for: pair, path: (o.pairDirectory as NSString).appendingPathComponent("truths.json"), recompute: o.recomputeTruths,
            settings: o.truth, jobs: o.jobs, command: "metron-bench pairing --recompute-truths --truth-runs \(o.truth.runsPerRate)")
        let sorted = pair.sorted { truths[$0.name]!.truthQPS > truths[$1.name]!.truthQPS }
        let (higher, lower) = (sorted[0], sorted[1])
        let (th, tl) = (truths[higher.name]!, truths[lower.name]!)
        out(String(format: "\n## (b) %@ (truth %.3f +- %@) against %@ (truth %.3f +- %@): %.1f %% apart, same seed for both",
                   higher.name, th.truthQPS, th.uncertaintyText, lower.name, tl.truthQPS, tl.uncertaintyText,
                   (th.truthQPS / tl.truthQPS - 1) * 100))
        out("    \(higher.name): \(higher.summary)")
        out("    \(lower.name): \(lower.summary)")
        out("variant    seeds  detected (higher called higher)  wrong direction  neither")
        for v in variants {
            let calls = try await concurrentMap(seeds, jobs: o.jobs) { seed in
                call(try await searchOnce(higher, seed: seed, variant: v), try await searchOnce(lower, seed: seed, variant: v))
            }
            let n = Double(calls.count)
            let detected = calls.filter { $0 == .first }.count, wrong = calls.filter { $0 == .second }.count
            out(String(format: "%@ %6d  %17d (%5.1f %%)       %4d (%4.1f %%)  %7d", pad(v.label, 9), calls.count, detected,
                       Double(detected) / n * 100, wrong, Double(wrong) / n * 100, calls.filter { $0 == .neither }.count))
        }
    }
}
