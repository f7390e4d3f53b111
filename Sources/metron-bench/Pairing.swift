import ArgumentParser
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
struct PairingBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pairing", abstract: "How often the ranking tells identical systems apart, and a pair whose capacities differ.")

    @Option(help: "The configuration searched as two identical copies.")
    var identical = "h100-8b-vllm-chat"

    @Option(help: "Directory of the sweep file holding --identical.")
    var identicalDir = "bench/accuracy"

    @Option(help: "Directory of the two configurations whose capacities differ, and their truths.json.")
    var pairDir = "bench/pairing"

    @OptionGroup var searches: SearchOptions
    @OptionGroup var truthOptions: TruthOptions
    @OptionGroup var parallel: JobOptions

    /// Which of two results a ranking calls higher.
    enum Call: Sendable { case first, second, neither }

    static func call(_ a: CapacityResult, _ b: CapacityResult) -> Call {
        rankedHigher(a, b) ? .first : rankedHigher(b, a) ? .second : .neither
    }

    func run() async throws {
        let variants = searches.budgets.values.map(SearchVariant.fitted(budget:))
        let seeds = Array(1...UInt64(searches.seeds))

        guard let same = try await BenchConfiguration.load(directory: identicalDir, only: [identical]).first else { return }
        out("## (a) two copies of \(same.name): \(same.summary)")
        out("variant    seeds  same seed: identical results  A higher  B higher  paired: A or B higher  |  "
            + "independent seeds: A higher  B higher  neither")
        for v in variants {
            let outcomes = try await concurrentMap(seeds, jobs: parallel.jobs) { seed -> (Bool, Call, Call, Call) in
                let a = try await searchOnce(same, seed: seed, variant: v)
                var copy = same
                copy.simulator.seed &+= 1
                let b = try await searchOnce(copy, seed: seed, variant: v)
                let independent = try await searchOnce(same, seed: seed &+ 100_000, variant: v)
                let identical = a.maxQPS == b.maxQPS && a.ciLow == b.ciLow && a.ciHigh == b.ciHigh
                    && a.probes.map(\.attainment) == b.probes.map(\.attainment)
                return (identical, Self.call(a, b), Self.call(a, independent), try await Self.paired(same, a, copy, b, seed: seed).call)
            }
            let n = outcomes.count
            out(String(format: "%@ %6d  %@  %8d  %8d  %21d  |  %27d  %8d  %7d", pad(v.label, 9), n,
                       pad("\(outcomes.filter(\.0).count) of \(n)", 28), outcomes.filter { $0.1 == .first }.count,
                       outcomes.filter { $0.1 == .second }.count, outcomes.filter { $0.3 != .neither }.count,
                       outcomes.filter { $0.2 == .first }.count, outcomes.filter { $0.2 == .second }.count,
                       outcomes.filter { $0.2 == .neither }.count))
        }

        let pair = try await BenchConfiguration.load(directory: pairDir)
        guard pair.count == 2 else {
            throw SweepError.cannotMeasure(system: pairDir, "expected two configurations, found \(pair.count)")
        }
        let truths = try await GroundTruthSearch.truths(
            for: pair, path: (pairDir as NSString).appendingPathComponent("truths.json"), recompute: truthOptions.recomputeTruths,
            settings: truthOptions.settings, jobs: parallel.jobs,
            command: "metron-bench pairing --recompute-truths --truth-runs \(truthOptions.truthRuns)")
        let sorted = pair.sorted { truths[$0.name]!.truthQPS > truths[$1.name]!.truthQPS }
        let (higher, lower) = (sorted[0], sorted[1])
        let (th, tl) = (truths[higher.name]!, truths[lower.name]!)
        out(String(format: "\n## (b) %@ (truth %.3f +- %@) against %@ (truth %.3f +- %@): %.1f %% apart, same seed for both",
                   higher.name, th.truthQPS, th.uncertaintyText, lower.name, tl.truthQPS, tl.uncertaintyText,
                   (th.truthQPS / tl.truthQPS - 1) * 100))
        out("    \(higher.name): \(higher.summary)")
        out("    \(lower.name): \(lower.summary)")
        let trueRatio = th.truthQPS / tl.truthQPS
        out("variant    seeds  test      detected (higher called higher)  wrong direction  neither  "
            + String(format: "paired: ratio intervals holding %.3f, probe time / the two searches'", trueRatio))
        for v in variants {
            let outcomes = try await concurrentMap(seeds, jobs: parallel.jobs) { seed -> (Call, Paired) in
                let (h, l) = (try await searchOnce(higher, seed: seed, variant: v), try await searchOnce(lower, seed: seed, variant: v))
                return (Self.call(h, l), try await Self.paired(higher, h, lower, l, seed: seed))
            }
            for (test, calls) in [("intervals", outcomes.map(\.0)), ("paired", outcomes.map(\.1.call))] {
                let n = Double(calls.count)
                let detected = calls.filter { $0 == .first }.count, wrong = calls.filter { $0 == .second }.count
                var line = String(format: "%@ %6d  %@  %17d (%5.1f %%)       %4d (%4.1f %%)  %7d", pad(v.label, 9), calls.count, pad(test, 9),
                                  detected, Double(detected) / n * 100, wrong, Double(wrong) / n * 100, calls.filter { $0 == .neither }.count)
                if test == "paired" {
                    let intervals = outcomes.compactMap(\.1.higherOverLower)
                    let holding = intervals.filter { $0.contains(trueRatio) }.count
                    let time = outcomes.map { $0.1.probeS / (searchProbeTimeS($0.1.searches.0) + searchProbeTimeS($0.1.searches.1)) }
                    line += String(format: "  %d of %d, %.2f", holding, intervals.count, mean(time))
                }
                out(line)
            }
        }
    }

    /// One seed's paired comparison as the ranking would make it.
    struct Paired: Sendable {
        var call: Call
        /// The ratio's interval, turned to the truly higher one over the other.
        var higherOverLower: ClosedRange<Double>?
        var probeS: Double
        var searches: (CapacityResult, CapacityResult)
    }

    /// `PairedComparison` between two searches of `a` (the truly higher one, where they differ) and `b`,
    /// the one with the higher estimate first as in a ranking.
    static func paired(_ a: BenchConfiguration, _ ra: CapacityResult, _ b: BenchConfiguration, _ rb: CapacityResult,
                       seed: UInt64) async throws -> Paired {
        let aFirst = (ra.maxQPS ?? 0) >= (rb.maxQPS ?? 0)
        let (first, second) = aFirst ? ((a, ra), (b, rb)) : ((b, rb), (a, ra))
        guard let paired = try await PairedComparison.measure(
            .init(runner: virtualRunner(first.0, seed: seed), result: first.1, slo: first.0.slo),
            .init(runner: virtualRunner(second.0, seed: seed), result: second.1, slo: second.0.slo), rules: ValidityRules())
        else { return Paired(call: .neither, probeS: 0, searches: (ra, rb)) }
        let probeS = 2 * Double(paired.first.count) * probeTimeS(rate: paired.rate)
        var interval: ClosedRange<Double>?
        if let lo = paired.ciLow, let hi = paired.ciHigh, lo > 0, lo <= hi { interval = aFirst ? lo...hi : (1 / hi)...(1 / lo) }
        let call: Call = paired.higher == true ? (aFirst ? .first : .second) : .neither
        return Paired(call: call, higherOverLower: interval, probeS: probeS, searches: (ra, rb))
    }
}
