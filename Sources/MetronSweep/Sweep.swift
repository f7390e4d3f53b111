import Foundation
import MetronSearch
import MetronModel
import MetronReport

/// Runs prefill profiles against one system: a batch of requests with the given prompt length,
/// at low load. Adapters implement it for the load generator and the simulator.
public protocol PrefillRunner: Sendable {
    func measure(promptTokens: Int, requests: Int) async throws -> [RequestRecord]
}

public enum PrefillProfiler {
    /// TTFT over the ladder, then the degree-2 fit. Failed requests are left out of the fit and
    /// counted in the error.
    public static func profile(_ ladder: PrefillLadder, runner: any PrefillRunner, system: String?) async throws -> PrefillModel {
        var samples: [PrefillSample] = []
        for length in ladder.lengths {
            let records = try await runner.measure(promptTokens: length, requests: ladder.requestsPerLength)
            samples += PrefillModel.samples(from: records)
        }
        return try PrefillModel.fit(samples, system: system)
    }
}

/// One finished search of a sweep.
public struct SweepSearch: Sendable {
    public var system: SystemSpec
    public var workload: String
    public var slo: String
    public var result: CapacityResult
    /// Which prefill model set the first-token deadlines ("fixed" when none did).
    public var deadlinesFrom: String

    public init(system: SystemSpec, workload: String, slo: SLOSpec, result: CapacityResult) {
        self.system = system
        self.workload = workload
        self.slo = slo.name
        self.result = result
        deadlinesFrom = slo.prefillSystem(for: system.name).map { "prefill model of \($0)" } ?? "fixed"
    }
}

extension SweepSearch: RankedSearch {
    public var entry: SweepReport.Entry {
        SweepReport.Entry(system: system.name, workload: workload, slo: slo, gpus: system.gpus, usdPerHour: system.usdPerHour)
    }
}

/// Runs every (system, workload, SLO) search of a sweep, caches probes, and writes `capacity.json`
/// per search and `capacity.csv` per sweep. How probes are run is up to `makeRunner`.
public struct SweepRun: Sendable {
    public var sweep: SweepFile
    public var layout: ResultsLayout
    /// How probes are measured: part of every probe's identity.
    public var measurement: MeasurementMode
    public var makeRunner: @Sendable (SystemSpec, WorkloadEntry) async throws -> any ProbeRunner
    public var prefillModel: @Sendable (SystemSpec) async throws -> PrefillModel
    /// Recorded in every capacity.json and in provenance.json beside capacity.csv.
    public var provenance: Provenance?
    /// Measure only this shard's searches (`SweepShares`), leaving the sweep's table to `SweepCollection`.
    public var shard: Shard?
    /// How long a shard waits for a prefill model that another shard profiles, seconds.
    public var prefillWaitS: Double = 3600

    public init(
        sweep: SweepFile, resultsRoot: URL, measurement: MeasurementMode,
        makeRunner: @escaping @Sendable (SystemSpec, WorkloadEntry) async throws -> any ProbeRunner,
        prefillModel: @escaping @Sendable (SystemSpec) async throws -> PrefillModel
    ) {
        self.sweep = sweep
        layout = ResultsLayout(root: resultsRoot, sweep: sweep.name)
        self.measurement = measurement
        self.makeRunner = makeRunner
        self.prefillModel = prefillModel
    }

    /// Prefill models needed by the sweep's SLOs, loaded from the results when saved for the same
    /// system and ladder, else profiled and saved. A shard profiles only the systems it owns and waits
    /// for the others' models, which their shards save.
    func prefillModels(progress: @Sendable (String) -> Void) async throws -> [String: PrefillModel] {
        var needed: Set<String> = []
        for system in sweep.systems where !workloads(of: system).isEmpty {
            for slo in sweep.slos { if let s = slo.prefillSystem(for: system.name) { needed.insert(s) } }
        }
        var models: [String: PrefillModel] = [:]
        for system in sweep.systems where needed.contains(system.name) {
            if let shares, let owner = shares.prefillOwner(of: system.name), owner != shard?.index {
                models[system.name] = try await waitForPrefillModel(of: system, owner: owner, progress: progress)
                continue
            }
            let url = layout.prefillModel(system: system.name)
            switch savedPrefillModel(of: system) {
            case let .usable(saved):
                models[system.name] = saved
                continue
            case let .unusable(why):
                progress("\(system.name): profiling prefill again: the saved model \(why)")
            case .none:
                break
            }
            var model = try await prefillModel(system)
            model.systemIdentity = SystemIdentity(system.kind)
            model.ladder = sweep.prefill
            try model.save(to: url)
            models[system.name] = model
        }
        return models
    }

    enum SavedPrefillModel {
        case usable(PrefillModel)
        case unusable(String)
    }

    /// The prefill model saved for `system`, and whether it was made for this system and ladder.
    func savedPrefillModel(of system: SystemSpec) -> SavedPrefillModel? {
        guard let saved = try? PrefillModel.load(from: layout.prefillModel(system: system.name)) else { return nil }
        let identity = SystemIdentity(system.kind)
        if saved.systemIdentity == identity, saved.ladder == sweep.prefill { return .usable(saved) }
        return .unusable(saved.systemIdentity == nil ? "records no system (an older format)"
            : saved.systemIdentity != identity ? "was made for another system" : "was made with another ladder")
    }

    /// The model that shard `owner` profiles for `system`, once it is saved.
    private func waitForPrefillModel(of system: SystemSpec, owner: Int, progress: @Sendable (String) -> Void) async throws -> PrefillModel {
        let deadline = Date().addingTimeInterval(prefillWaitS)
        var told = false
        while true {
            if case let .usable(model) = savedPrefillModel(of: system) { return model }
            guard Date() < deadline else {
                throw SweepError.cannotMeasure(system: system.name, "shard \(owner) of \(shares?.units.count ?? 1) profiles its prefill model, "
                    + "and none was saved at \(layout.prefillModel(system: system.name).path) within \(Int(prefillWaitS)) s; "
                    + "run that shard (all shards of a sharded sweep run at once)")
            }
            if !told {
                progress("\(system.name): waiting for its prefill model from shard \(owner)")
                told = true
            }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
    }

    /// Runs the searches, those of different systems at once (at most `search.parallel_systems`, fewer
    /// once the client lags), those of one system one after another, since they share its server.
    /// Results, files and their order are those of running every search in turn. When a search throws,
    /// no new search starts, the running ones finish and are written, and the first error in the
    /// sweep's order is thrown. `status` hears where the sweep stands when each search starts and
    /// after each probe.
    public func run(
        progress: @escaping @Sendable (String) -> Void = { _ in },
        status: @escaping @Sendable (SweepProgress) -> Void = { _ in }
    ) async throws -> [SweepSearch] {
        let started = Date()
        let limit = sweep.search.strategy == .fitted ? sweep.search.probeBudget : sweep.search.bisectMaxIterations
        let measured = sweep.systems.indices.filter { !workloads(of: sweep.systems[$0]).isEmpty }
        let standing = SweepStanding(SweepProgress(
            search: 0, searches: measured.reduce(0) { $0 + workloads(of: sweep.systems[$1]).count } * sweep.slos.count,
            label: "", probes: 0, probeLimit: limit, probesBefore: 0, finishedSearches: 0, elapsedS: 0))
        if let shares { progress("shard \(shares.shard): " + (shares.mine.isEmpty ? "nothing to measure" : shares.mine.map(\.description).joined(separator: ", "))) }
        for index in measured { try SystemIdentity.claim(sweep.systems[index], in: layout) }
        // The table is written whole at the end: until then no earlier run's table stands beside new results.
        do {
            try FileManager.default.removeItem(at: layout.capacityCSV)
        } catch {
            // Gone already, or removed by another shard at the same moment.
            if FileManager.default.fileExists(atPath: layout.capacityCSV.path) { throw error }
        }
        // Before any search starts, so that searches share nothing they could change.
        let models = try await prefillModels(progress: progress)
        let gate = SearchGate(limit: min(sweep.search.parallelSystems ?? measured.count, measured.count))
        // Each system's first search takes its place before any task starts, so that the sweep's
        // order, not the tasks' start, decides who waits.
        for index in measured { await gate.request(firstSearch(ofSystem: index)) }
        let stopping = Flag()
        let outcomes = await withTaskGroup(of: (Int, [SweepSearch], (any Error)?).self) { group in
            for index in measured {
                let system = sweep.systems[index]
                group.addTask {
                    var done: [SweepSearch] = []
                    do {
                        try await runSystem(system, index: index, models: models, gate: gate, stopping: stopping, standing: standing,
                                            started: started, progress: progress, status: status) { done.append($0) }
                        return (index, done, nil)
                    } catch {
                        return (index, done, error)
                    }
                }
            }
            var all: [(Int, [SweepSearch], (any Error)?)] = []
            for await outcome in group { all.append(outcome) }
            return all.sorted { $0.0 < $1.0 }
        }
        // A search's own error says more than the cancellation of one that never started.
        let errors = outcomes.compactMap { $0.2 }
        if let error = errors.first(where: { !($0 is CancellationError) }) ?? errors.first { throw error }
        var searches = outcomes.flatMap { $0.1 }
        // A shard's searches are a part of the table, which `SweepCollection` writes from all of them.
        if shard == nil {
            searches = try await comparePairs(searches, models: models, systemsAtOnce: await gate.limit, progress: progress)
            try sweep.writeSweepFiles(searches, layout: layout, provenance: provenance)
        }
        return searches
    }

    /// Probes each two systems next to each other in a table's ranking on `search.paired_plans` shared
    /// plans (`PairedComparison`), and keeps the comparison in the higher one's `capacity.json`. The
    /// probes go to each system's probe cache, so a rerun measures nothing again. `systemsAtOnce`: the
    /// searches' limit at their end (lowered by client strain); from 2, the two systems of a pair probe
    /// each plan at once, and from 4, pairs that share no system are compared at the same time.
    func comparePairs(_ searches: [SweepSearch], models: [String: PrefillModel], systemsAtOnce: Int,
                      progress: @escaping @Sendable (String) -> Void) async throws -> [SweepSearch] {
        let plans = sweep.search.pairedPlans
        guard plans > 0 else { return searches }
        var searches = searches
        let rows = SweepRankings.rows(searches, qualified: false)
        let pairs = CapacityTable.neighbours(rows, tables: SweepRankings.tables(searches))
            .filter { searches[$0.higher].result.maxQPS != nil && searches[$0.next].result.maxQPS != nil }
        let together = systemsAtOnce >= 2
        for round in Self.rounds(pairs.map { (searches[$0.higher].system.name, searches[$0.next].system.name) },
                                 pairsAtOnce: max(1, systemsAtOnce / 2)) {
            let compared = try await withThrowingTaskGroup(of: (Int, PairedComparison?).self) { group in
                for i in round {
                    let (first, second) = (searches[pairs[i].higher], searches[pairs[i].next])
                    progress("\(Self.pairLabel(first, second)): \(plans) shared plans at the geometric mean of their capacities")
                    let sides = (try await side(first, models: models, progress: progress), try await side(second, models: models, progress: progress))
                    group.addTask {
                        (i, try await PairedComparison.measure(sides.0, sides.1, rules: sweep.validity, plans: plans, together: together))
                    }
                }
                var all: [(Int, PairedComparison?)] = []
                for try await one in group { all.append(one) }
                return all.sorted { $0.0 < $1.0 }
            }
            for case let (i, comparison?) in compared {
                let (a, b) = pairs[i]
                let first = searches[a]
                searches[a].result.pairedWithNext = PairedWithNext(system: searches[b].system.name, comparison: comparison)
                try searches[a].result.write(to: layout.search(system: first.system.name, workload: first.workload, slo: first.slo))
                let verdict = comparison.noTest.map { "no test: \($0)" }
                    ?? String(format: "%.3fx [%.3f, %.3f]", comparison.ratio ?? .nan, comparison.ciLow ?? .nan, comparison.ciHigh ?? .nan)
                    + (comparison.higher == true ? ": higher" : ": not distinguishable")
                progress(String(format: "%@: at %.3f, %d plans: ", Self.pairLabel(first, searches[b]), comparison.rate,
                                comparison.first.count) + verdict)
            }
        }
        return searches
    }

    private static func pairLabel(_ first: SweepSearch, _ second: SweepSearch) -> String {
        "\(first.system.name) against \(second.system.name)/\(first.workload)/\(first.slo)"
    }

    /// The pairs (by system names) in rounds, in order: at most `pairsAtOnce` a round, none of them
    /// sharing a system with another of its round, since one server takes one plan at a time.
    private static func rounds(_ pairs: [(String, String)], pairsAtOnce: Int) -> [[Int]] {
        var left = Array(pairs.indices), rounds: [[Int]] = []
        while !left.isEmpty {
            var round: [Int] = [], busy: Set<String> = [], later: [Int] = []
            for i in left {
                if round.count < pairsAtOnce, !busy.contains(pairs[i].0), !busy.contains(pairs[i].1) {
                    round.append(i)
                    busy.formUnion([pairs[i].0, pairs[i].1])
                } else {
                    later.append(i)
                }
            }
            rounds.append(round)
            left = later
        }
        return rounds
    }

    /// A finished search as a paired comparison probes it: its system's cached runner and its SLO.
    private func side(_ search: SweepSearch, models: [String: PrefillModel],
                      progress: @escaping @Sendable (String) -> Void) async throws -> PairedComparison.Side {
        guard let workload = sweep.workloads.first(where: { $0.name == search.workload }),
              let spec = sweep.slos.first(where: { $0.name == search.slo })
        else { preconditionFailure("a search of the sweep names its workload and SLO") }
        let slo = try resolvedSLO(spec, system: search.system, models: models)
        let runner = cachingRunner(try await makeRunner(search.system, workload), system: search.system, workload: workload,
                                   deadlines: slo.deadlines, progress: progress)
        return PairedComparison.Side(runner: runner, result: search.result, slo: slo)
    }

    /// The SLO with the first-token deadlines of the prefill model it names for `system`.
    private func resolvedSLO(_ spec: SLOSpec, system: SystemSpec, models: [String: PrefillModel]) throws -> SLO {
        try spec.resolve(prefill: spec.prefillSystem(for: system.name).flatMap { models[$0] })
    }

    /// `inner` behind the probe cache of `system` under `workload`.
    private func cachingRunner(_ inner: any ProbeRunner, system: SystemSpec, workload: WorkloadEntry, deadlines: FluidityDeadlines,
                               progress: @escaping @Sendable (String) -> Void) -> CachingProbeRunner {
        let identity = ProbeIdentity(system: system, workload: workload.spec, sweep: sweep, measurement: measurement)
        let label = "\(system.name)/\(workload.name)"
        return CachingProbeRunner(
            inner: inner, cache: ProbeCache(directory: layout.probes(system: system.name, workload: workload.name), identity: identity),
            deadlines: deadlines,
            onHit: { progress("\(label): reusing probe \($0.directoryName)") },
            onStale: { progress("\(label): measuring probe \($0.directoryName) again: \($1)") })
    }

    /// This shard's split of the sweep; nil for a whole sweep.
    var shares: SweepShares? { shard.map { SweepShares(sweep: sweep, shard: $0) } }

    /// The workloads of `system` this run measures: all of them without a shard.
    func workloads(of system: SystemSpec) -> [WorkloadEntry] {
        guard let shares else { return sweep.workloads }
        return sweep.workloads.filter { shares.owns(system: system.name, workload: $0.name) }
    }

    /// One system's searches in the sweep's order, each inside the gate; `finished` hears each as it
    /// is written. Stops before a search when another has failed. Everything that can throw happens
    /// inside the gate, so that every place taken is given up again.
    private func runSystem(
        _ system: SystemSpec, index: Int, models: [String: PrefillModel], gate: SearchGate, stopping: Flag,
        standing: SweepStanding, started: Date, progress: @escaping @Sendable (String) -> Void,
        status: @escaping @Sendable (SweepProgress) -> Void, finished: (SweepSearch) -> Void
    ) async throws {
        // How many searches ran at once changes nothing measured: it is left out of capacity.json.
        var settings = sweep.search
        settings.parallelSystems = nil
        var order = firstSearch(ofSystem: index)
        let workloads = workloads(of: system)
        let last = order + workloads.count * sweep.slos.count - 1
        for workload in workloads {
            let label = "\(system.name)/\(workload.name)"
            var inner: ClientWatchingRunner?
            for spec in sweep.slos {
                await gate.enter(order)
                if stopping.isSet {
                    await gate.leave()
                    return
                }
                // Interrupted while waiting: nothing is started after Ctrl-C.
                if Task.isCancelled {
                    await gate.leave()
                    throw CancellationError()
                }
                let searchLabel = "\(label)/\(spec.name)"
                let number = standing.start(searchLabel, elapsedS: Date().timeIntervalSince(started))
                var counted = false
                do {
                    if inner == nil {
                        inner = ClientWatchingRunner(
                            inner: try await makeRunner(system, workload), label: label,
                            lagThresholdS: sweep.validity.lagThresholdS, gate: gate, progress: progress)
                    }
                    guard let watched = inner else { preconditionFailure("made above") }
                    let source = spec.prefillSystem(for: system.name)
                    let slo = try resolvedSLO(spec, system: system, models: models)
                    let runner = cachingRunner(watched, system: system, workload: workload, deadlines: slo.deadlines, progress: progress)
                    let cache = runner.cache
                    progress("\(searchLabel): searching (\(sweep.search.strategy.rawValue), \(slo.summary))")
                    let plan = SearchPlan(settings: sweep.search, window: sweep.probe, minRequests: sweep.validity.minRequests,
                                          level: slo.attainmentLevel, requestsPerArrival: workload.spec.requestsPerArrival)
                    for line in plan.lines { progress("\(searchLabel): \(line)") }
                    standing.report(status: status)
                    let search = CapacitySearch(runner: runner, slo: slo, rules: sweep.validity, settings: settings)
                    let result = try await search.run { p in
                        progress("\(searchLabel): \(p.progressLine)")
                        standing.probed(number, elapsedS: Date().timeIntervalSince(started), status: status)
                    }.recordingProvenance(provenance, probes: cache)
                    standing.finish(number, probes: result.probes.count)
                    counted = true
                    let directory = layout.search(system: system.name, workload: workload.name, slo: spec.name)
                    try result.write(to: directory)
                    let drawn = PlotData.drawnProbe(of: result).flatMap { cache.load($0.request).measurement }
                    try PlotData(result: result, records: drawn?.windowRecords ?? [], deadlines: slo.deadlines,
                                 prefill: source.flatMap { models[$0]?.plotted }).write(to: directory)
                    finished(SweepSearch(system: system, workload: workload.name, slo: spec, result: result))
                } catch {
                    if !counted { standing.finish(number, probes: 0) }
                    // Before the place is given up: whoever it goes to must see that the sweep is stopping.
                    stopping.set()
                    await gate.leave()
                    throw error
                }
                // The next search of this system queues before this one's place is given up.
                if order < last { await gate.request(order + 1) }
                order += 1
                await gate.leave()
            }
        }
    }

    /// The place in the sweep's order of a system's first search.
    private func firstSearch(ofSystem index: Int) -> Int { index * sweep.workloads.count * sweep.slos.count }
}
