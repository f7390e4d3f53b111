import MetronModel
import XCTest

final class ShardTests: XCTestCase {
    func testParsingAndItsErrors() throws {
        XCTAssertEqual(try Shard(parsing: "1/4"), Shard(index: 1, count: 4))
        for bad in ["4/4", "-1/2", "1/0", "1", "a/b", "1/2/3"] {
            XCTAssertThrowsError(try Shard(parsing: bad), bad)
        }
        XCTAssertThrowsError(try Shard(parsing: "4/4")) { XCTAssertTrue("\($0)".contains("below the count"), "\($0)") }
    }

    func testTheLaunchersIndexAndCount() throws {
        XCTAssertEqual(try Shard.fromLauncher(["SLURM_PROCID": "1", "SLURM_NTASKS": "2"]), Shard(index: 1, count: 2))
        // A job array whose tasks are numbered from 1.
        XCTAssertEqual(try Shard.fromLauncher(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1",
                                               "SLURM_PROCID": "0", "SLURM_NTASKS": "1"]), Shard(index: 2, count: 3))
        XCTAssertEqual(try Shard.fromLauncher(["JOB_COMPLETION_INDEX": "2"], shards: 4), Shard(index: 2, count: 4))
        XCTAssertThrowsError(try Shard.fromLauncher(["JOB_COMPLETION_INDEX": "2"])) { XCTAssertTrue("\($0)".contains("--shards N"), "\($0)") }
        XCTAssertThrowsError(try Shard.fromLauncher(["JOB_COMPLETION_INDEX": "4"], shards: 4))
        XCTAssertEqual(try Shard.fromLauncher(["OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "8"]), Shard(index: 0, count: 8))
        XCTAssertEqual(try Shard.fromLauncher(["PMI_RANK": "5", "PMI_SIZE": "6"]), Shard(index: 5, count: 6))
        XCTAssertEqual(try Shard.fromLauncher(["SLURM_PROCID": "0", "SLURM_NTASKS": "1"]), Shard(index: 0, count: 1))
        XCTAssertThrowsError(try Shard.fromLauncher([:])) { XCTAssertTrue("\($0)".contains("give --shard I/N instead"), "\($0)") }
    }

    func testSharesCoverThePlanOnceWithTheSameTimes() throws {
        let plan = try WorkloadSpec(lengths: .distributions(prompt: .uniform(min: 10, max: 100), output: .fixed(5)), seed: 4)
            .plan(rate: 30, duration: 20)
        let shards = (0..<3).map { Shard(index: $0, count: 3).share(of: plan) }
        XCTAssertEqual(shards.flatMap { $0 }.map(\.id).sorted(), plan.map(\.id))
        for (i, share) in shards.enumerated() {
            XCTAssertTrue(share.allSatisfy { $0.id % 3 == i })
            XCTAssertEqual(share.count, plan.count / 3, accuracy: 1)
            for r in share { XCTAssertEqual(r, plan[r.id]) }
        }
    }

    func testTheFingerprintNamesThePlan() throws {
        let spec = WorkloadSpec(seed: 1)
        let plan = try spec.plan(rate: 5, duration: 10)
        XCTAssertEqual(Shard.fingerprint(of: plan), Shard.fingerprint(of: try spec.plan(rate: 5, duration: 10)))
        XCTAssertNotEqual(Shard.fingerprint(of: plan), Shard.fingerprint(of: try WorkloadSpec(seed: 2).plan(rate: 5, duration: 10)))
        XCTAssertNotEqual(Shard.fingerprint(of: plan), Shard.fingerprint(of: Array(plan.dropLast())))
    }
}
