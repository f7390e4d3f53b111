import Foundation
import MetronModel
import MetronReport
import MetronTestSupport
import XCTest

/// Two `metron run --shard` processes against one simulator, merged with `metron merge`, send the
/// plan the unsharded run sends: the same ids, scheduled times and lengths, each request once.
final class ShardedRunTests: XCTestCase {
    func arguments(_ out: URL, _ url: String, _ extra: [String]) -> [String] {
        ["run", "--url", url, "--model", "llama-3-8b", "--rate", "20", "--duration", "3",
         "--prompt-length", "uniform:16:64", "--output-length", "8", "--seed", "5", "--out", out.path] + extra
    }

    func plan(_ directory: URL) throws -> [[Double]] {
        try RecordsFile.read(RunDirectory.recordsURL(in: directory))
            .map { [Double($0.id), $0.scheduledS, Double($0.requestedPromptTokens)] }.sorted { $0[0] < $1[0] }
    }

    func testTwoShardsMergedSendTheUnshardedPlan() async throws {
        let server = try await Harness.startSimulator()
        let root = try Harness.temporaryDirectory(self)
        let sharded = root.appendingPathComponent("sharded"), whole = root.appendingPathComponent("whole")
        // Shard 1 runs beside shard 0 and finds its index in an srun-like environment.
        let background = Process()
        background.executableURL = MetronBinary.url
        background.arguments = arguments(sharded, server.url, ["--shard", "auto"])
        background.environment = ProcessInfo.processInfo.environment.merging(["SLURM_PROCID": "1", "SLURM_NTASKS": "2"]) { $1 }
        let log = root.appendingPathComponent("shard-1.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        background.standardError = try FileHandle(forWritingTo: log)
        background.standardOutput = FileHandle.nullDevice
        try background.run()
        let zero = try MetronBinary.run(arguments(sharded, server.url, ["--shard", "0/2"]))
        background.waitUntilExit()
        let otherLog = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(zero.status, 0, zero.stderr)
        XCTAssertEqual(background.terminationStatus, 0, otherLog)
        XCTAssertTrue(otherLog.contains("shard 1/2:"), otherLog)
        let merged = try MetronBinary.run(["merge", sharded.path])
        XCTAssertEqual(merged.status, 0, merged.stderr)
        XCTAssertTrue(merged.stdout.contains("merged 2 shards"), merged.stdout)
        let unsharded = try MetronBinary.run(arguments(whole, server.url, []))
        XCTAssertEqual(unsharded.status, 0, unsharded.stderr)
        try await server.stop()

        let shardedPlan = try plan(sharded), wholePlan = try plan(whole)
        XCTAssertEqual(shardedPlan, wholePlan)
        XCTAssertEqual(shardedPlan.map { Int($0[0]) }, Array(0..<wholePlan.count))
        let settings = try RunDirectory.readSettings(from: sharded)
        XCTAssertEqual(settings.merged?.map(\.index), [0, 1])
        XCTAssertEqual(settings.targetRate, 20)
        // Merging again is refused and changes nothing.
        let again = try MetronBinary.run(["merge", sharded.path])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("merged already"), again.stderr)
    }

    func testBadShardFlags() throws {
        let out = try Harness.temporaryDirectory(self).path
        for (flags, expected) in [
            (["--shard", "2/2"], "--shard 2/2: '2/2': the index must be at least 0 and below the count"),
            (["--shard", "auto"], "--shard auto: no launcher index found"),
            (["--shards", "2"], "--shards and --start-at go with --shard"),
            (["--shard", "0/2", "--start-at", "soon"], "--start-at soon: expected Unix seconds or an ISO 8601 time"),
        ] {
            let result = try MetronBinary.run(["run", "--url", "http://127.0.0.1:9", "--model", "m", "--rate", "1", "--duration", "1",
                                               "--out", out] + flags, environment: ["PATH": "/usr/bin:/bin"])
            XCTAssertEqual(result.status, 2, "\(flags): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(flags): \(result.stderr)")
        }
    }
}
