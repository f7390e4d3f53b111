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
    /// system and ladder, else profiled and saved.
    func prefillModels(progress: @Sendable (String) -> Void) async throws -> [String: PrefillModel] {
        var needed: Set<String> = []
        for system in sweep.systems {
            for slo in sweep.slos { if let s = slo.prefillSystem(for: system.name) { needed.insert(s) } }
        }
        var models: [String: PrefillModel] = [:]
        for system in sweep.systems where needed.contains(system.name) {
            let url = layout.prefillModel(system: system.name)
            let identity = SystemIdentity(system.kind)
            if let saved = try? PrefillModel.load(from: url) {
                if saved.systemIdentity == identity, saved.ladder == sweep.prefill {
                    models[system.name] = saved
                    continue
                }
                let why = saved.systemIdentity == nil ? "records no system (an older format)"
                    : saved.systemIdentity != identity ? "was made for another system" : "was made with another ladder"
                progress("\(system.name): profiling prefill again: the saved model \(why)")
            }
            var model = try await prefillModel(system)
            model.systemIdentity = identity
            model.ladder = sweep.prefill
            try model.save(to: url)
            models[system.name] = model
        }
        return models
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
        let standing = SweepStanding(SweepProgress(
            search: 0, searches: sweep.systems.count * sweep.workloads.count * sweep.slos.count,
            label: "", probes: 0, probeLimit: limit, probesBefore: 0, finishedSearches: 0, elapsedS: 0))
        for system in sweep.systems { try SystemIdentity.claim(system, in: layout) }
        // The table is written whole at the end: until then no earlier run's table stands beside new results.
        if FileManager.default.fileExists(atPath: layout.capacityCSV.path) { try FileManager.default.removeItem(at: layout.capacityCSV) }
        // Before any search starts, so that searches share nothing they could change.
        let models = try await prefillModels(progress: progress)
        let gate = SearchGate(limit: min(sweep.search.parallelSystems ?? sweep.systems.count, sweep.systems.count))
        // Each system's first search takes its place before any task starts, so that the sweep's
        // order, not the tasks' start, decides who waits.
        for index in sweep.systems.indices { await gate.request(firstSearch(ofSystem: index)) }
        let stopping = Flag()
        let outcomes = await withTaskGroup(of: (Int, [SweepSearch], (any Error)?).self) { group in
            for (index, system) in sweep.systems.enumerated() {
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
        let searches = outcomes.flatMap { $0.1 }
        try SweepRankings.writeCSV(searches, qualified: sweep.workloads.count > 1 || sweep.slos.count > 1,
                                   confidence: sweep.search.confidence, to: layout.capacityCSV)
        try provenance?.ended().write(to: layout.provenanceFile)
        try writeReport(searches)
        return searches
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
        let last = order + sweep.workloads.count * sweep.slos.count - 1
        for workload in sweep.workloads {
            let identity = ProbeIdentity(system: system, workload: workload.spec, sweep: sweep, measurement: measurement)
            let cache = ProbeCache(directory: layout.probes(system: system.name, workload: workload.name), identity: identity)
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
                    let slo = try spec.resolve(prefill: source.flatMap { models[$0] })
                    let runner = CachingProbeRunner(
                        inner: watched, cache: cache, deadlines: slo.deadlines,
                        onHit: { progress("\(label): reusing probe \($0.directoryName)") },
                        onStale: { progress("\(label): measuring probe \($0.directoryName) again: \($1)") })
                    progress("\(searchLabel): searching (\(sweep.search.strategy.rawValue), \(slo.summary))")
                    let plan = SearchPlan(settings: sweep.search, window: sweep.probe, minRequests: sweep.validity.minRequests,
                                          level: slo.attainmentLevel)
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
                    finished(SweepSearch(system: system, workload: workload.name, slo: spec.name, result: result,
                                         deadlinesFrom: source.map { "prefill model of \($0)" } ?? "fixed"))
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
