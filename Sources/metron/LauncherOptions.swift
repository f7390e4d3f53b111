import ArgumentParser
import Foundation
import MetronSweep

/// Sending each probe from several client processes (`--launcher srun --clients N`).
struct LauncherOptions: ParsableArguments {
    enum Launcher: String, ExpressibleByArgument, CaseIterable { case srun }

    @Option(help: "Send each probe from several client processes: srun runs it as a step of --clients tasks inside the current Slurm allocation (RESULTS must be on a filesystem every node sees).")
    var launcher: Launcher?

    @Option(help: "Client processes per probe with --launcher (default: the allocation's SLURM_NTASKS).")
    var clients: Int?

    /// Checked by the command, which knows whether it measures in virtual time.
    func check(simulate: Bool, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard launcher != nil else {
            if clients != nil { throw ValidationError("--clients goes with --launcher srun") }
            return
        }
        if simulate { throw ValidationError("--launcher sends probes over HTTP; --simulate measures in virtual time, with no client") }
        if let clients, clients < 1 { throw ValidationError("--clients must be at least 1, got \(clients)") }
        guard environment["SLURM_JOB_ID"]?.isEmpty == false else {
            throw ValidationError("--launcher srun runs inside a Slurm allocation (sbatch or salloc); SLURM_JOB_ID is not set")
        }
        _ = try clientCount(environment)
    }

    /// The fleet that sends each probe, with its steps under RESULTS; nil without --launcher.
    func fleet(results: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ClientFleet? {
        guard launcher != nil else { return nil }
        return ClientFleet(clients: try clientCount(environment),
                           stepsDirectory: URL(fileURLWithPath: results, isDirectory: true).appendingPathComponent(".probe-steps"))
    }

    private func clientCount(_ environment: [String: String]) throws -> Int {
        if let clients { return clients }
        guard let tasks = environment["SLURM_NTASKS"].flatMap({ Int($0) }), tasks >= 1 else {
            throw ValidationError("--launcher srun needs --clients N: the allocation gives no SLURM_NTASKS")
        }
        return tasks
    }
}
