import Foundation
import MetronModel
import MetronReport
import MetronTestSupport
import XCTest

/// Against the one-node Slurm that `scripts/slurm-up.sh` brings up (`make test` runs it first):
/// `srun -n 2 metron run --shard auto`, then `metron merge`, sends exactly the unsharded plan; a
/// search with `--launcher srun --clients 2` sends every probe from two srun tasks.
final class SlurmTests: XCTestCase {
    /// A Slurm program's path; the tests fail (never skip) without one.
    private func slurmProgram(_ name: String) throws -> String {
        guard let path = ["/usr/bin/", "/usr/local/bin/"].map({ $0 + name }).first(where: FileManager.default.isExecutableFile) else {
            XCTFail("\(name) not found: bring Slurm up with scripts/slurm-up.sh (make test does)")
            throw CancellationError()
        }
        return path
    }

    /// `program arguments`, running, its output and errors going to `log`.
    private func startLogged(_ program: String, _ arguments: [String], log: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    func testSrunShardsMergeIntoTheUnshardedPlan() async throws {
        let srun = try slurmProgram("srun")
        let server = try await Harness.startSimulator()
        let out = try Harness.temporaryDirectory(self).appendingPathComponent("run")
        let log = out.deletingLastPathComponent().appendingPathComponent("srun.log")
        let process = try startLogged(
            srun, ["-n", "2", "--time", "5", MetronBinary.url.path, "run", "--url", server.url, "--model", "llama-3-8b",
                   "--rate", "20", "--duration", "3", "--prompt-length", "uniform:16:64", "--output-length", "8",
                   "--seed", "5", "--shard", "auto", "--out", out.path],
            log: log)
        process.waitUntilExit()
        let output = try String(contentsOf: log, encoding: .utf8)
        try await server.stop()
        XCTAssertEqual(process.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("shard 0/2:") && output.contains("shard 1/2:"), output)

        let merged = try MetronBinary.run(["merge", out.path])
        XCTAssertEqual(merged.status, 0, merged.stderr)
        let plan = try WorkloadSpec(lengths: .distributions(prompt: .uniform(min: 16, max: 64), output: .fixed(8)), seed: 5)
            .plan(rate: 20, duration: 3)
        let records = try RecordsFile.read(RunDirectory.recordsURL(in: out)).sorted { $0.id < $1.id }
        XCTAssertEqual(records.map(\.id), plan.map(\.id))
        XCTAssertEqual(records.map(\.scheduledS), plan.map(\.arrival))
        XCTAssertEqual(records.map(\.requestedPromptTokens), plan.map(\.promptTokens))
        XCTAssertEqual(records.filter { $0.status == .ok }.count, plan.count, "every request answered")
    }

    func testASearchWithTheSrunLauncherSendsEveryProbeFromTwoTasks() throws {
        let salloc = try slurmProgram("salloc")
        let results = try Harness.temporaryDirectory(self).appendingPathComponent("results")
        let search = try MetronBinary.run(
            ["-n", "2", "--time", "10", MetronBinary.url.path, "search", "--sim-hardware", "h100", "--name", "h100",
             "--launcher", "srun", "--clients", "2", "--prompt-length", "uniform:16:64", "--output-length", "16",
             "--start-rate", "20", "--probe-budget", "3", "--requests", "120", "--bracket-requests", "120", "--warmup", "0.5",
             "--ttft-deadline", "2", "--results", results.path],
            executable: URL(fileURLWithPath: salloc))
        XCTAssertEqual(search.status, 0, search.stderr)
        XCTAssertTrue(search.stderr.contains("each probe is sent by 2 srun tasks"), search.stderr)
        let probes = ResultsLayout(root: results, sweep: "search").probes(system: "h100", workload: "workload")
        let names = try FileManager.default.contentsOfDirectory(atPath: probes.path).filter { $0.hasPrefix("rate-") }
        XCTAssertFalse(names.isEmpty, "probes were stored")
        XCTAssertEqual(search.stderr.components(separatedBy: "merged from 2 srun tasks").count - 1, names.count, search.stderr)
        for name in names {
            let ids = try RecordsFile.read(probes.appendingPathComponent(name).appendingPathComponent(RecordsFile.name)).map(\.id).sorted()
            XCTAssertEqual(ids, Array(0..<ids.count), "\(name): every planned request recorded once")
        }
        XCTAssertTrue(FileManager.default.fileExists(
            atPath: ResultsLayout(root: results, sweep: "search").search(system: "h100", workload: "workload", slo: "p99-fluidity")
                .appendingPathComponent("capacity.json").path))
        let steps = results.appendingPathComponent(".probe-steps")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: steps.path), [], "merged steps are removed")
    }

    /// Ctrl-C during a probe reaches its srun tasks as SIGINT: they record their open requests as
    /// cancelled, and the merged probe is kept as incomplete.
    func testInterruptingASrunLauncherSearchKeepsTheProbeInProgress() throws {
        let salloc = try slurmProgram("salloc")
        let results = try Harness.temporaryDirectory(self).appendingPathComponent("results")
        let log = results.deletingLastPathComponent().appendingPathComponent("search.log")
        let process = try startLogged(
            salloc, ["-n", "2", "--time", "10", MetronBinary.url.path, "search", "--sim-hardware", "h100", "--name", "h100",
                     "--launcher", "srun", "--clients", "2", "--prompt-length", "uniform:16:64", "--output-length", "16",
                     "--start-rate", "2", "--requests", "200", "--bracket-requests", "200", "--warmup", "0",
                     "--ttft-deadline", "2", "--results", results.path],
            log: log)
        // Once a task has recorded its first answered request, interrupt the search itself.
        let steps = results.appendingPathComponent(".probe-steps")
        let deadline = Date().addingTimeInterval(120)
        func answered() -> Bool {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: steps.path)) ?? []
            return names.contains { name in
                let records = steps.appendingPathComponent(name).appendingPathComponent("shards/0").appendingPathComponent(RecordsFile.name)
                return ((try? FileManager.default.attributesOfItem(atPath: records.path)[.size] as? Int) ?? 0) > 0
            }
        }
        while !answered(), Date() < deadline, process.isRunning { Thread.sleep(forTimeInterval: 0.2) }
        let children = try MetronBinary.run(["-P", String(process.processIdentifier)], executable: URL(fileURLWithPath: "/usr/bin/pgrep"))
        let search = try XCTUnwrap(children.stdout.split(separator: "\n").first.flatMap { Int32($0) }, "the search under salloc")
        kill(search, SIGINT)
        process.waitUntilExit()
        let output = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(process.terminationStatus, 130, output)
        let probes = ResultsLayout(root: results, sweep: "search").probes(system: "h100", workload: "workload")
        let incomplete = try XCTUnwrap(
            try FileManager.default.contentsOfDirectory(atPath: probes.path).first { $0.hasSuffix(".incomplete") }, output)
        let records = try RecordsFile.read(probes.appendingPathComponent(incomplete).appendingPathComponent(RecordsFile.name))
        XCTAssertEqual(records.map(\.id).sorted(), Array(0..<records.count), "every planned request recorded once")
        XCTAssertTrue(records.contains { $0.status == .ok } && records.contains { $0.status == .cancelled },
                      "answered before the interrupt, cancelled after it")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: steps.path), [], output)
    }

    /// `deploy/slurm/sweep-array.sbatch` as a 2-task job array, then again without --array to collect,
    /// in virtual time: the table is the one the unsharded sweep writes.
    func testAJobArraySweepCollectedGivesTheUnshardedTable() throws {
        let sbatch = try slurmProgram("sbatch")
        let directory = try Harness.temporaryDirectory(self)
        let sweep = directory.appendingPathComponent("array.yaml")
        try ShardedSweepTests.fourSearchSweep(name: "array").write(to: sweep, atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/slurm/sweep-array.sbatch")
        let sharded = directory.appendingPathComponent("sharded").path
        var environment = ProcessInfo.processInfo.environment
        environment["METRON"] = MetronBinary.url.path
        environment["SIMULATE"] = "1"
        for array in [["--array=0-1"], []] {
            let job = try MetronBinary.run(
                ["--wait", "--cpus-per-task=1", "--time=10", "--output=\(directory.path)/slurm-%A_%a.out"] + array
                    + [script.path, sweep.path, sharded],
                environment: environment, executable: URL(fileURLWithPath: sbatch))
            let logs = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("slurm-") }
                .map { try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8) }.joined(separator: "\n")
            XCTAssertEqual(job.status, 0, "\(array): \(job.stderr)\n\(logs)")
            if !array.isEmpty {
                XCTAssertTrue(logs.contains("shard 0/2:") && logs.contains("shard 1/2:"), "each array task measures its share: \(logs)")
            }
        }
        let whole = try MetronBinary.run(["sweep", sweep.path, "--simulate", "--no-plots", "--results", directory.appendingPathComponent("whole").path])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        func table(_ results: String) throws -> String {
            try String(contentsOf: directory.appendingPathComponent("\(results)/array-simulated/capacity.csv"), encoding: .utf8)
        }
        XCTAssertEqual(try table("sharded"), try table("whole"))
        XCTAssertEqual(try table("whole").split(separator: "\n").count, 5, "a header and four searches")
    }
}
