import Foundation
import MetronModel
import MetronReport
import MetronSearch
import MetronSweep
import MetronSimModel

/// One system measured with one workload under one SLO, in virtual time: what the accuracy and
/// pairing benchmarks search.
///
/// Configurations come from a directory of ordinary sweep files: every simulator system of a file is
/// one configuration, named by the system, with the file's first workload and first SLO (a sweep
/// crosses all of its systems with all of its workloads, so a workload per system takes a file each).
struct BenchConfiguration: Sendable {
    var name: String
    var file: String
    var simulator: SimulatorConfig
    var workload: WorkloadSpec
    var workloadName: String
    var slo: SLO
    var startRate: Double

    var summary: String {
        "\(simulator.hardware.name), \(simulator.model.name), TP \(simulator.tensorParallel), "
            + "\(simulator.scheduler.kind.rawValue); workload \(workloadName); SLO \(slo.summary)"
    }

    /// Every configuration of the sweep files in `directory`, in file order; `only` selects by name
    /// (every name must exist).
    static func load(directory: String, only: [String]? = nil) async throws -> [BenchConfiguration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        var configurations: [BenchConfiguration] = []
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file)
            let sweep = try SweepFile.load(path: path)
            guard let workload = sweep.workloads.first else { continue }
            let rules = ValidityRules()
            let planner = ProbePlanner(workload: workload.spec, window: ProbeWindow(), minRequests: rules.minRequests)
            for system in sweep.systems {
                guard case let .simulator(config) = system.kind else { continue }
                if let only, !only.contains(system.name) { continue }
                let slo = try await virtualSLO(sweep, system: system.name, planner: planner, rules: rules)
                configurations.append(BenchConfiguration(
                    name: system.name, file: path, simulator: config, workload: workload.spec,
                    workloadName: workload.name, slo: slo, startRate: sweep.search.startRate))
            }
        }
        if let only {
            let missing = only.filter { name in !configurations.contains { $0.name == name } }
            if !missing.isEmpty {
                throw SweepError.cannotMeasure(system: missing.joined(separator: ","), "no such configuration in \(directory)")
            }
        }
        return configurations
    }
}

/// A search as the benchmarks run it: the default search and probe settings, except the
/// configuration's start rate, the strategy and the probe budget.
struct SearchVariant: Sendable, Hashable {
    var label: String
    var strategy: SearchStrategy
    var budget: Int

    static func fitted(budget: Int) -> SearchVariant { SearchVariant(label: "fitted/\(budget)", strategy: .fitted, budget: budget) }
    static let bisect = SearchVariant(label: "bisect", strategy: .bisect, budget: SearchSettings().probeBudget)
}

/// The one place the benchmarks create a runner and a search, so that changes to the search's API
/// are made here only. The workload's seed is `seed`; each probe's plan derives from it.
func searchOnce(_ configuration: BenchConfiguration, seed: UInt64, variant: SearchVariant) async throws -> CapacityResult {
    var settings = SearchSettings()
    settings.startRate = configuration.startRate
    settings.strategy = variant.strategy
    settings.probeBudget = variant.budget
    let runner = virtualRunner(configuration, seed: seed)
    return try await CapacitySearch(runner: runner, slo: configuration.slo, rules: ValidityRules(), settings: settings).run()
}

/// Probes of `configuration` in virtual time with the workload seeded `seed`, and the default probe settings.
func virtualRunner(_ configuration: BenchConfiguration, seed: UInt64) -> VirtualProbeRunner {
    var workload = configuration.workload
    workload.seed = seed
    let rules = ValidityRules()
    return VirtualProbeRunner(
        config: configuration.simulator,
        planner: ProbePlanner(workload: workload, window: ProbeWindow(), minRequests: rules.minRequests),
        drainGraceS: rules.drainGraceS)
}

/// What the search's probes would take against a real server: warm-up plus window, summed.
func searchProbeTimeS(_ result: CapacityResult) -> Double {
    result.probes.reduce(0.0) { $0 + probeTimeS(rate: $1.rate, bracketing: $1.request.bracketing) }
}

/// Warm-up plus window of one probe at `rate`, with the default probe settings.
func probeTimeS(rate: Double, bracketing: Bool = false) -> Double {
    let window = ProbeWindow()
    return window.warmupS + window.measurementS(rate: rate, minRequests: ValidityRules().minRequests, bracketing: bracketing)
}

/// Whether a ranking of the two results would call `a` higher than `b`: the one place the benchmarks
/// ask the capacity table's test.
func rankedHigher(_ a: CapacityResult, _ b: CapacityResult) -> Bool {
    CapacityRatio(a.systemCapacity(system: "a", gpus: nil, usdPerHour: nil),
                  over: b.systemCapacity(system: "b", gpus: nil, usdPerHour: nil), confidence: a.confidence).higher == true
}

/// Runs `work` for every item, at most `jobs` at a time, and returns the results in the items' order.
func concurrentMap<T: Sendable, R: Sendable>(_ items: [T], jobs: Int, _ work: @escaping @Sendable (T) async throws -> R) async throws -> [R] {
    try await withThrowingTaskGroup(of: (Int, R).self) { group in
        var results = [R?](repeating: nil, count: items.count)
        var next = 0
        func launch() {
            let i = next, item = items[i]
            group.addTask { (i, try await work(item)) }
            next += 1
        }
        while next < min(max(jobs, 1), items.count) { launch() }
        while let (i, r) = try await group.next() {
            results[i] = r
            if next < items.count { launch() }
        }
        return results.map { $0! }
    }
}

/// Unbuffered, so that a long run shows its progress.
func out(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
