import Foundation
import MetronLoad
import MetronModel
import MetronReport
import MetronSearch
import Synchronization

/// Probes sent from several client processes at once (`--launcher srun --clients N`), for a load that
/// one client machine cannot certify: each probe is an `srun` step of `clients` tasks in the current
/// Slurm allocation, each task sending its share of the probe's plan. Their records are merged, and
/// their client health combined, before the probe is judged.
public struct ClientFleet: Sendable {
    public var clients: Int
    /// The `metron` the tasks run; every node must have it at this path.
    public var executable: String
    /// Where each probe's step directory is made; every node must see it (a shared filesystem).
    public var stepsDirectory: URL
    public var srun: String
    /// Where the probes' merges are reported; the sweep sets it for each system.
    var log: @Sendable (String) -> Void = { _ in }

    public init(clients: Int, executable: String = ClientFleet.ownExecutable(), stepsDirectory: URL, srun: String = "srun") {
        self.clients = clients
        self.executable = executable
        self.stepsDirectory = stepsDirectory
        self.srun = srun
    }

    /// This process's own executable.
    public static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Merge warnings (an unsynchronised clock) are the same for every probe: each is logged once.
    private static let warned = Mutex<Set<String>>([])

    /// Sends `plan` as one `srun` step and returns what its tasks measured together. The step's
    /// directory is removed once merged, and kept (and named) when anything fails.
    func probe(_ request: ProbeRequest, plan: [PlannedRequest], seed: UInt64, windowStartS: Double, windowEndS: Double,
               generator: LoadGenerator, scrape: MetricsScrapeOptions?) async throws -> ProbeMeasurement {
        let directory = stepsDirectory.appendingPathComponent("probe-" + UUID().uuidString.prefix(8).lowercased())
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try ProbeStep(clients: clients, generator: generator, scrape: scrape, rate: request.rate, seed: seed, plan: plan,
                      windowStartS: windowStartS, windowEndS: windowEndS).write(to: directory)
        let what = "the probe at \(request.rate) req/s (\(clients) srun tasks, kept in \(directory.path))"
        let status = try await launch(in: directory, credentials: ProbeStep.credentials(of: generator.target))
        guard status == 0 || Task.isCancelled else {
            throw ProbeStepError("\(what): srun exited with status \(status)\(status == 127 ? " (is srun on PATH?)" : ""); "
                + "its last lines:\n" + outputTail(directory))
        }
        let merged: RunSettings
        do {
            merged = try ShardMerge(directory: directory).run(onWarning: { warning in
                if Self.warned.withLock({ $0.insert(warning).inserted }) { log("warning: \(warning)") }
            }).settings
        } catch {
            // Tasks killed before they wrote their records leave nothing to merge; the step is kept as it is.
            if Task.isCancelled { throw ProbeInterrupted(directory: directory) }
            throw ProbeStepError("\(what): the tasks' records do not merge:\n\(error)")
        }
        let records = try RecordsFile.read(RunDirectory.recordsURL(in: directory)).sorted { $0.id < $1.id }
        log("probe at \(request.rate) req/s: \(records.count) requests merged from \(merged.merged?.count ?? 0) srun tasks")
        let scrapes = scrape.map { _ in
            ServerMetricsFile.read(directory.appendingPathComponent("shards/0").appendingPathComponent(ServerMetricsFile.name)) ?? []
        }
        try? FileManager.default.removeItem(at: directory)
        return ProbeMeasurement(
            request: request, records: records, windowStartS: windowStartS, windowEndS: windowEndS,
            timerLatenessS: merged.timerLatenessS, maxInFlight: generator.options.maxInFlight, serverMetrics: scrapes)
    }

    /// Runs the step to its end and returns srun's exit status. Cancelling asks the tasks to stop as
    /// Ctrl-C stops `metron run` (their open requests are recorded as cancelled).
    private func launch(in directory: URL, credentials: String) async throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [srun, "--ntasks=\(clients)", "--kill-on-bad-exit=1", "--job-name=metron-probe",
                             executable, "probe-step", directory.path]
        var environment = ProcessInfo.processInfo.environment
        environment[ProbeStep.credentialsVariable] = credentials
        process.environment = environment
        let output = directory.appendingPathComponent("srun.log")
        guard FileManager.default.createFile(atPath: output.path, contents: nil) else {
            throw ProbeStepError("cannot write \(output.path)")
        }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    process.waitUntilExit()
                    continuation.resume(returning: process.terminationStatus)
                }
            }
        } onCancel: {
            Self.interrupt(process, directory: directory)
        }
    }

    /// SIGINT to the step's tasks through Slurm (srun itself would kill them at once on one); before
    /// the tasks have started there is nothing to keep, and srun is simply stopped.
    private static func interrupt(_ process: Process, directory: URL) {
        guard let step = try? String(contentsOf: directory.appendingPathComponent(ProbeStep.slurmStepFile), encoding: .utf8) else {
            return process.terminate()
        }
        let scancel = Process()
        scancel.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        scancel.arguments = ["scancel", "--signal=INT", step.trimmingCharacters(in: .whitespacesAndNewlines)]
        if (try? scancel.run()) == nil { process.terminate() }
    }

    private func outputTail(_ directory: URL) -> String {
        let text = (try? String(contentsOf: directory.appendingPathComponent("srun.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).map { "  " + $0 }.joined(separator: "\n")
    }
}
