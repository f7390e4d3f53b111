import Foundation
import MetronTestSupport
import XCTest

/// `metron sweep --shard` then `--collect`, in virtual time: the collected table is the unsharded one,
/// and an incomplete or outdated set of results is refused.
final class ShardedSweepTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("metron-sharded-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Two simulator systems times two workloads: four searches, a few seconds in virtual time.
    static func fourSearchSweep(name: String, comment: String = "") -> String {
        """
            name: \(name)
            systems:
              - {name: fast, simulator: {hardware: h100, model: llama-3-8b, scheduler: sarathi}}
              - {name: slow, simulator: {hardware: l40s, model: llama-3-8b, scheduler: vllm}}
            workloads:
              - {name: short, prompt_tokens: 64, output_tokens: 8}
              - {name: long, prompt_tokens: 512, output_tokens: 16}
            slos:
              - {name: p90, percentile: 90, prefill_model: fixed, ttft_deadline_s: 0.5, tbt_deadline_s: 0.1}
            search: {start_rate: 10, probe_budget: 4, relative_ci_width: 0.5, paired_plans: 0}
            probe: {requests: 1, bracket_requests: 1, duration_s: 2, warmup_s: 0.2, min_requests: 15}
            \(comment)
            """
    }

    func writeSweep(_ name: String = "shards.yaml", comment: String = "") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Self.fourSearchSweep(name: "shards", comment: comment).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func sweep(_ file: String, _ results: String, _ extra: [String]) throws -> MetronBinary.Result {
        // No launcher's variables: `--shard auto` must find none.
        let environment = ProcessInfo.processInfo.environment.filter {
            !["SLURM_", "OMPI_", "PMI_", "JOB_COMPLETION_INDEX"].contains(where: $0.key.hasPrefix)
        }
        return try MetronBinary.run(["sweep", file, "--simulate", "--no-plots", "--results", directory.appendingPathComponent(results).path] + extra,
                                    environment: environment)
    }

    func table(_ results: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent("\(results)/shards-simulated/capacity.csv"), encoding: .utf8)
    }

    func testThreeShardsCollectedGiveTheUnshardedTable() throws {
        let file = try writeSweep()
        let whole = try sweep(file, "whole", [])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        var parts: [String] = []
        for i in 0..<3 {
            let shard = try sweep(file, "sharded", ["--shard", "\(i)/3"])
            XCTAssertEqual(shard.status, 0, shard.stderr)
            parts.append(shard.stderr)
        }
        // Four simulator units (system, workload) over three shards: every unit exactly once.
        let units = parts.compactMap { $0.split(separator: "\n").first { $0.hasPrefix("shard ") } }
        XCTAssertEqual(units.count, 3, parts.joined())
        for unit in ["fast/short", "fast/long", "slow/short", "slow/long"] {
            XCTAssertEqual(units.filter { $0.contains(unit) }.count, 1, "\(unit) in \(units)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("sharded/shards-simulated/capacity.csv").path),
                       "a shard writes no table")
        let collected = try sweep(file, "sharded", ["--collect"])
        XCTAssertEqual(collected.status, 0, collected.stderr)
        XCTAssertEqual(try table("sharded"), try table("whole"))
        XCTAssertEqual(collected.stdout.split(separator: "\n").dropLast(), whole.stdout.split(separator: "\n").dropLast())
    }

    func testCollectRefusesMissingAndOutdatedResultsUnlessAsked() throws {
        let file = try writeSweep()
        let only = try sweep(file, "r", ["--shard", "0/2"])
        XCTAssertEqual(only.status, 0, only.stderr)
        let refused = try sweep(file, "r", ["--collect"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("2 of 4 searches have no result"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("not finished"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("r/shards-simulated/capacity.csv").path))

        let partial = try sweep(file, "r", ["--collect", "--allow-incomplete"])
        XCTAssertEqual(partial.status, 0, partial.stderr)
        XCTAssertTrue(partial.stderr.contains("ranking 2 of 4 searches"), partial.stderr)
        XCTAssertEqual(try table("r").split(separator: "\n").count, 3)

        let edited = try writeSweep("edited.yaml", comment: "# edited")
        let outdated = try sweep(edited, "r", ["--collect"])
        XCTAssertEqual(outdated.status, 1)
        XCTAssertTrue(outdated.stderr.contains("written for another version of the sweep file"), outdated.stderr)
    }

    func testBadShardFlagsAreRefused() throws {
        let file = try writeSweep()
        for (flags, message) in [
            (["--shard", "2/2"], "below the count"),
            (["--shard", "0/2", "--collect"], "takes no --shard"),
            (["--allow-incomplete"], "goes with --collect"),
            (["--shards", "2"], "goes with --shard auto"),
            (["--shard", "auto"], "no launcher index found"),
        ] {
            let run = try sweep(file, "bad", flags)
            XCTAssertNotEqual(run.status, 0, "\(flags)")
            XCTAssertTrue(run.stderr.contains(message), "\(flags): \(run.stderr)")
        }
    }
}
