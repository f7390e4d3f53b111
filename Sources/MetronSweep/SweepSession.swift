import Foundation
import MetronLoad
import MetronModel
import MetronReport
import MetronSearch

/// A sweep that stopped before its end; its finished probes are kept. `exitStatus` is the status a
/// command exits with: 2 for systems that cannot be measured, 130 for an interrupt, 1 otherwise.
public struct SweepStopped: Error {
    public var exitStatus: Int32
}

/// A whole sweep as a command runs it: simulators started and stopped, provenance, Ctrl-C.
public enum SweepSession {
    /// Runs every search of `sweep`, starting and stopping the simulators it needs; in virtual time its
    /// results go to `<name>-simulated`. `prefill`, when given, is the first system's prefill model;
    /// `sweepFile`, when given, is hashed into the provenance.
    /// Ctrl-C keeps the probe in progress as incomplete; it and a search that stops end the sweep with
    /// `SweepStopped`; finished probes are kept either way and reused by the next run.
    /// With `shard`, only that shard's searches run, and the sweep's table is left to `collect`. With
    /// `fleet`, every probe over HTTP is sent by its client processes.
    public static func run(
        _ sweep: SweepFile, mode: MeasurementMode, results: String, prefill: PrefillModel? = nil, sweepFile: String? = nil,
        shard: Shard? = nil, fleet: ClientFleet? = nil, log: @escaping @Sendable (String) -> Void, status: @escaping @Sendable (SweepProgress) -> Void
    ) async throws -> ([SweepSearch], ResultsLayout) {
        let started = Date()
        let problems = SystemConnections.problems(systems: sweep.systems, mode: mode)
        guard problems.isEmpty else {
            problems.forEach(log)
            throw SweepStopped(exitStatus: 2)
        }
        var sweep = sweep
        if mode == .virtual {
            sweep.name = simulatedName(sweep.name)
            log("SIMULATED: probes run in virtual time against the serving model, not against servers")
        }
        if var prefill, let system = sweep.systems.first {
            // Where the sweep looks for a system's prefill model before profiling it; the one given is
            // taken as this system's, whatever it was profiled on.
            prefill.systemIdentity = SystemIdentity(system.kind)
            prefill.ladder = sweep.prefill
            try prefill.save(to: ResultsLayout(root: URL(fileURLWithPath: results), sweep: sweep.name).prefillModel(system: system.name))
        }
        if let fleet, mode != .virtual {
            log("each probe is sent by \(fleet.clients) srun tasks running \(fleet.executable), through \(fleet.stepsDirectory.path)")
        }
        let connections = SystemConnections(sweep: sweep, mode: mode, fleet: fleet, log: log)
        let ladder = sweep.prefill
        var sweepRun = SweepRun(
            sweep: sweep, resultsRoot: URL(fileURLWithPath: results, isDirectory: true), measurement: mode,
            makeRunner: { system, workload in try await connections.runner(system: system, workload: workload.spec) },
            prefillModel: { system in
                log("\(system.name): profiling prefill at \(ladder.lengths.map(String.init).joined(separator: ", ")) prompt tokens")
                let runner = try await connections.runner(system: system, workload: WorkloadSpec())
                return try await PrefillProfiler.profile(ladder, runner: runner, system: system.name)
            })
        let realtime = if case let .http(options) = mode { options.realtime } else { RealtimeMode.off }
        let (client, lateness) = ClientSurvey.measureAtStart(realtime: realtime)
        sweepRun.provenance = invocationProvenance(
            sweepFile: sweepFile, startedAt: started, client: client, timerLateness: lateness,
            servers: SystemConnections.describeServers(sweep: sweep, mode: mode))
        sweepRun.shard = shard
        let run = sweepRun
        let outcome: Result<[SweepSearch], Error>
        do {
            outcome = .success(try await cancellingOnInterrupt(message: "interrupted: stopping after the probe in progress") {
                try await run.run(progress: log, status: status)
            }.value)
        } catch {
            outcome = .failure(error)
        }
        await connections.shutdown()
        switch outcome {
        case let .success(searches):
            return (searches, run.layout)
        case let .failure(error):
            let interrupted = (error as? SearchError)?.underlying is ProbeInterrupted
            log(interrupted ? "\((error as! SearchError).underlying)" : "stopped: \(error)")
            log("finished probes are kept under \(run.layout.sweepDirectory.path) and reused by the next run")
            throw SweepStopped(exitStatus: interrupted ? 130 : 1)
        }
    }

    /// Where a sweep measured in virtual time keeps its results: apart from the servers' results.
    static func simulatedName(_ name: String) -> String { name + "-simulated" }

    /// Some searches of a sharded sweep are not finished (or were written for another sweep file).
    public struct IncompleteSweep: Error, CustomStringConvertible {
        public var missing: [String]
        public var searches: Int
        public var description: String {
            "\(missing.count) of \(searches) searches have no result:\n" + missing.map { "  - " + $0 }.joined(separator: "\n")
                + "\nrun the shards that measure them, or pass --allow-incomplete to rank the finished ones"
        }
    }

    /// `capacity.csv`, `provenance.json` and `report.html` from the searches the shards of `sweep`
    /// finished under `results`. Refuses (writing nothing) while a search has no result, unless
    /// `allowIncomplete`, when the missing ones are logged and left out.
    public static func collect(
        _ sweep: SweepFile, simulated: Bool, results: String, sweepFile: String, allowIncomplete: Bool,
        log: @escaping @Sendable (String) -> Void
    ) throws -> ([SweepSearch], ResultsLayout) {
        var sweep = sweep
        if simulated { sweep.name = simulatedName(sweep.name) }
        let layout = ResultsLayout(root: URL(fileURLWithPath: results, isDirectory: true), sweep: sweep.name)
        guard let contents = FileManager.default.contents(atPath: sweepFile) else {
            throw SweepError.cannotCollect("\(sweepFile) cannot be read")
        }
        let collection = SweepCollection(sweep: sweep, layout: layout, sweepFileSHA256: SHA256.hex(contents))
        let total = sweep.systems.count * sweep.workloads.count * sweep.slos.count
        if !collection.missing.isEmpty {
            let incomplete = IncompleteSweep(missing: collection.missing, searches: total)
            guard allowIncomplete, !collection.searches.isEmpty else { throw incomplete }
            log("warning: ranking \(collection.searches.count) of \(total) searches (--allow-incomplete):")
            collection.missing.forEach { log("  - " + $0) }
        }
        if sweep.search.pairedPlans > 0 {
            log("note: the ranking compares intervals only: paired comparisons on shared plans (search.paired_plans) "
                + "need every system's probes in one process, so a sharded sweep makes none")
        }
        let provenance = invocationProvenance(
            sweepFile: sweepFile, startedAt: Date(), client: ClientSurvey.host(realtime: .off, granted: false),
            timerLateness: [], servers: [])
        try collection.write(sweep: sweep, layout: layout, provenance: provenance)
        return (collection.searches, layout)
    }
}
