import Foundation
import MetronModel
import MetronReport
import MetronTestSupport
import XCTest

/// Against the one-node Slurm that `scripts/slurm-up.sh` brings up (`make test` runs it first):
/// `srun -n 2 metron run --shard auto`, then `metron merge`, sends exactly the unsharded plan.
final class SlurmTests: XCTestCase {
    func testSrunShardsMergeIntoTheUnshardedPlan() async throws {
        guard let srun = ["/usr/bin/srun", "/usr/local/bin/srun"].first(where: FileManager.default.isExecutableFile) else {
            return XCTFail("srun not found: bring Slurm up with scripts/slurm-up.sh (make test does)")
        }
        let server = try await Harness.startSimulator()
        let out = try Harness.temporaryDirectory(self).appendingPathComponent("run")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: srun)
        process.arguments = ["-n", "2", "--time", "5", MetronBinary.url.path, "run", "--url", server.url, "--model", "llama-3-8b",
                             "--rate", "20", "--duration", "3", "--prompt-length", "uniform:16:64", "--output-length", "8",
                             "--seed", "5", "--shard", "auto", "--out", out.path]
        let log = out.deletingLastPathComponent().appendingPathComponent("srun.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
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
}
