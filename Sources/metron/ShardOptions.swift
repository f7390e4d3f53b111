import ArgumentParser
import Foundation
import MetronModel
import MetronReport
import MetronSweep

/// Splitting one plan across client processes (`metron run --shard`), each writing `OUT/shards/I/`.
struct ShardOptions: ParsableArguments {
    @Option(help: "Send shard I of N of the plan (the requests whose id is I modulo N), or auto: the launcher's index and count (srun, a Slurm job array, a Kubernetes Indexed Job with --shards, MPI). Records go to OUT/shards/I/; `metron merge OUT` joins them.")
    var shard: String?

    @Option(help: "Shards in all, for --shard auto in a Kubernetes Indexed Job (its completions).")
    var shards: Int?

    @Option(help: "Time 0 of every shard: Unix seconds or ISO 8601 (default: agreed by the shards through OUT/shards/).")
    var startAt: String?

    func validate() throws {
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1, got \(shards)") }
        if shard == nil, shards != nil || startAt != nil { throw ValidationError("--shards and --start-at go with --shard") }
        _ = try resolved()
        _ = try startAtSeconds()
    }

    /// The shard this process runs, or nil for a whole run.
    func resolved() throws -> Shard? { try shard.map { try resolveShard($0, shards: shards) } }

    func startAtSeconds() throws -> Double? {
        guard let startAt else { return nil }
        if let seconds = Double(startAt), seconds.isFinite { return seconds }
        if let date = ISO8601DateFormatter().date(from: startAt) { return date.timeIntervalSince1970 }
        throw ValidationError("--start-at \(startAt): expected Unix seconds or an ISO 8601 time such as 2026-12-02T10:00:00Z")
    }

    /// This process's share of `plan`, where it writes, and its time 0 (agreed with the other shards
    /// unless --start-at gives it); the whole plan and `out` itself without --shard.
    func apply(to plan: [PlannedRequest], out: URL, log: @escaping @Sendable (String) -> Void) async throws
        -> (plan: [PlannedRequest], directory: URL, record: ShardRecord?)
    {
        guard let shard = try resolved() else { return (plan, out, nil) }
        let directory = out.appendingPathComponent("shards").appendingPathComponent(String(shard.index))
        if FileManager.default.fileExists(atPath: RunDirectory.recordsURL(in: directory).path) {
            throw ValidationError("\(directory.path) already holds shard \(shard) of a run; choose another --out")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let fingerprint = Shard.fingerprint(of: plan)
        let start: Double
        if let given = try startAtSeconds() {
            start = given
        } else {
            start = try await ShardStart(shard: shard, directory: directory.deletingLastPathComponent(), planFingerprint: fingerprint)
                .agree(log: log)
        }
        let share = shard.share(of: plan)
        log("shard \(shard): \(share.count) of the plan's \(plan.count) requests, time 0 at \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: start)))")
        return (share, directory, ShardRecord(shard: shard, planRequests: plan.count, planFingerprint: fingerprint, startAtS: start))
    }
}

/// `--shard I/N` or `--shard auto` (the launcher's index and count; `shards` for a Kubernetes Indexed Job).
func resolveShard(_ text: String, shards: Int?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard {
    do {
        return text == "auto" ? try Shard.fromLauncher(environment, shards: shards) : try Shard(parsing: text)
    } catch let error as ShardError {
        throw ValidationError("--shard \(text): \(error)")
    }
}
