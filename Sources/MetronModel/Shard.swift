/// One of N client processes that together send one plan: shard I sends the requests whose id (or,
/// for a turn, whose session) is I modulo N, so the shards cover the plan exactly once and each gets
/// every N-th arrival.
public struct Shard: Sendable, Equatable, Codable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    public var description: String { "\(index)/\(count)" }

    /// `I/N` with 0 <= I < N.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw ShardError("expected I/N (for example 0/2), or auto, got '\(text)'")
        }
        try self.init(checkedIndex: index, count: count, source: "'\(text)'")
    }

    init(checkedIndex index: Int, count: Int, source: String) throws {
        guard count >= 1, (0..<count).contains(index) else {
            throw ShardError("\(source): the index must be at least 0 and below the count, and the count at least 1 (got \(index) of \(count))")
        }
        self.init(index: index, count: count)
    }

    /// The index and count the launcher gives the process: an `srun` step's task, a Slurm job array's
    /// task, a Kubernetes Indexed Job's pod (the count is `shards`, which such a pod cannot read), or
    /// an MPI rank.
    public static func fromLauncher(_ environment: [String: String], shards: Int? = nil) throws -> Shard {
        func int(_ name: String) -> Int? { environment[name].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        if let tasks = int("SLURM_NTASKS"), tasks > 1, let rank = int("SLURM_PROCID") {
            return try Shard(checkedIndex: rank, count: tasks, source: "SLURM_PROCID/SLURM_NTASKS")
        }
        if let task = int("SLURM_ARRAY_TASK_ID"), let count = int("SLURM_ARRAY_TASK_COUNT") {
            return try Shard(checkedIndex: task - (int("SLURM_ARRAY_TASK_MIN") ?? 0), count: count,
                             source: "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT")
        }
        if let index = int("JOB_COMPLETION_INDEX") {
            guard let shards else {
                throw ShardError("a Kubernetes Indexed Job gives JOB_COMPLETION_INDEX but not the count: add --shards N (the Job's completions)")
            }
            return try Shard(checkedIndex: index, count: shards, source: "JOB_COMPLETION_INDEX with --shards")
        }
        for (rank, size) in [("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("PMI_RANK", "PMI_SIZE")] {
            if let r = int(rank), let s = int(size) { return try Shard(checkedIndex: r, count: s, source: "\(rank)/\(size)") }
        }
        if let tasks = int("SLURM_NTASKS"), let rank = int("SLURM_PROCID") {
            return try Shard(checkedIndex: rank, count: tasks, source: "SLURM_PROCID/SLURM_NTASKS")
        }
        throw ShardError("no launcher index found: looked for SLURM_PROCID and SLURM_NTASKS (srun), SLURM_ARRAY_TASK_ID and "
            + "SLURM_ARRAY_TASK_COUNT (sbatch --array), JOB_COMPLETION_INDEX (a Kubernetes Indexed Job, with --shards), "
            + "OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_SIZE, PMI_RANK and PMI_SIZE; give --shard I/N instead")
    }

    /// A digest of every planned request (id, arrival, lengths, shared prefix): shards of one plan
    /// carry the same one.
    public static func fingerprint(of plan: [PlannedRequest]) -> String {
        var text = ""
        for r in plan {
            text += "\(r.id) \(r.arrival.bitPattern) \(r.promptTokens) \(r.outputTokens)"
            if let p = r.sharedPrefix { text += " \(p.index):\(p.tokens)" }
            if let t = r.turn { text += " session \(t.session) turn \(t.index) \(t.thinkTimeS.bitPattern) \(t.historyTokens)" }
            text += "\n"
        }
        return SHA256.hex(Array(text.utf8))
    }

    /// This shard's requests of the whole plan, in the plan's order; a session's turns stay together.
    public func share(of plan: [PlannedRequest]) -> [PlannedRequest] {
        plan.filter { ($0.turn?.session ?? $0.id) % count == index }
    }
}

public struct ShardError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
