import Foundation
import MetronModel
@testable import MetronReport
import XCTest

/// `metron merge`: shards of one plan become one run; anything else is refused with every reason,
/// and nothing is written.
final class ShardMergeTests: XCTestCase {
    var out: URL!
    let plan = (0..<10).map { PlannedRequest(id: $0, arrival: Double($0) * 0.1, promptTokens: 8, outputTokens: 2) }

    override func setUpWithError() throws {
        out = FileManager.default.temporaryDirectory.appendingPathComponent("metron-merge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: out) }

    func settings(_ shard: Shard, plan: [PlannedRequest]? = nil, start: Double = 1_000, model: String = "m") -> RunSettings {
        let plan = plan ?? self.plan
        var s = RunSettings(
            url: "http://h", api: "completions", model: model, targetRate: 5, durationS: 1, warmupS: 0, seed: 1, workload: "w",
            maxInFlight: nil, timeouts: [:], drainTimeoutS: 1, ttftDeadlineS: 0.3, tbtDeadlineS: 0.03, lagThresholdS: 0.01,
            promptCalibration: "c", tokensPerWord: 1, overheadTokens: 0, realtime: false, headerNames: [], startedAt: "t",
            timerLatenessS: [0.0001 * Double(shard.index + 1)])
        var record = ShardRecord(shard: shard, planRequests: plan.count, planFingerprint: Shard.fingerprint(of: plan), startAtS: start)
        record.runStartWallClockS = start + 0.001 * Double(shard.index)
        record.clockMaxErrorS = 0.001
        s.shard = record
        return s
    }

    func records(_ requests: [PlannedRequest]) -> [RequestRecord] {
        requests.map {
            RequestRecord(id: $0.id, scheduledS: $0.arrival, sentS: $0.arrival, chunkTimesS: [$0.arrival + 0.1, $0.arrival + 0.12],
                          chunkTokens: [1, 1], requestedPromptTokens: 8, requestedOutputTokens: 2, promptTokens: 8, outputTokens: 2)
        }
    }

    /// Writes a shard's run directory as `metron run --shard` leaves it.
    func write(_ shard: Shard, name: String? = nil, settings: RunSettings? = nil, records: [RequestRecord]? = nil) throws {
        let directory = out.appendingPathComponent("shards").appendingPathComponent(name ?? String(shard.index))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let s = settings ?? self.settings(shard)
        let r = records ?? self.records(shard.share(of: plan))
        try RunDirectory.write(records: r, summary: s.summary(of: r), settings: s, to: directory)
    }

    func problems(_ merge: ShardMerge? = nil) -> [String] {
        let summary = out.appendingPathComponent(RunDirectory.summaryFile)
        let before = try? Data(contentsOf: summary)
        do {
            _ = try (merge ?? ShardMerge(directory: out)).run()
            XCTFail("expected the merge to be refused")
        } catch let error as ShardMerge.Problems {
            XCTAssertEqual(try? Data(contentsOf: summary), before, "nothing written")
            return error.problems
        } catch {
            XCTFail("unexpected \(error)")
        }
        return []
    }

    func testShardsOfOnePlanMergeIntoOneRun() throws {
        try write(Shard(index: 0, count: 2))
        try write(Shard(index: 1, count: 2))
        let (settings, summary) = try ShardMerge(directory: out).run()
        XCTAssertEqual(summary.requests, 10)
        XCTAssertEqual(settings.targetRate, 10)
        XCTAssertEqual(settings.merged?.map(\.index), [0, 1])
        XCTAssertNil(settings.shard)
        XCTAssertEqual(settings.timerLatenessS, [0.0001, 0.0002], "every shard's client health counts")
        let merged = try RecordsFile.read(RunDirectory.recordsURL(in: out))
        XCTAssertEqual(merged.map(\.id).sorted(), Array(0..<10))
        XCTAssertEqual(try RunDirectory.readSettings(from: out), settings)
        // Merging again overwrites nothing.
        XCTAssertTrue(problems().contains { $0.contains("merged already (nothing is overwritten)") })
    }

    func testAMissingShard() throws {
        try write(Shard(index: 0, count: 3))
        try write(Shard(index: 2, count: 3))
        XCTAssertEqual(problems(), ["missing shard 1 of 3"])
    }

    func testADuplicateShard() throws {
        try write(Shard(index: 0, count: 2))
        try write(Shard(index: 1, count: 2))
        try write(Shard(index: 1, count: 2), name: "1-copy")
        XCTAssertEqual(problems(), ["shard 1 appears 2 times (1, 1-copy)"])
    }

    func testAnotherPlanOrOtherSettings() throws {
        try write(Shard(index: 0, count: 2))
        let other = Array(plan.prefix(8))
        try write(Shard(index: 1, count: 2), settings: settings(Shard(index: 1, count: 2), plan: other, model: "n"))
        let found = problems()
        XCTAssertTrue(found.contains { $0.hasPrefix("shard 1 sent another plan than shard 0 (8 against 10 requests") }, "\(found)")
        XCTAssertTrue(found.contains("shard 1 ran with other settings than shard 0: model"), "\(found)")
    }

    func testClocksTooFarApart() throws {
        try write(Shard(index: 0, count: 2))
        var late = settings(Shard(index: 1, count: 2))
        late.shard?.runStartWallClockS = 1_000.05
        try write(Shard(index: 1, count: 2), settings: late)
        XCTAssertEqual(problems(), ["the shards' time 0 lie 50.0 ms apart on their own clocks, more than 10.0 ms: a shard started late, or the clocks disagree"])
        var loose = settings(Shard(index: 1, count: 2))
        loose.shard?.clockMaxErrorS = 0.2
        try write(Shard(index: 1, count: 2), settings: loose)
        XCTAssertEqual(problems(), ["shard 1: the kernel bounds its clock's error at 200.0 ms, more than 10.0 ms"])
    }

    func testRecordsOutsideTheShareOrMissing() throws {
        try write(Shard(index: 0, count: 2), records: records(Array(plan.prefix(3))))
        try write(Shard(index: 1, count: 2), records: records(Shard(index: 1, count: 2).share(of: plan)))
        let found = problems()
        XCTAssertTrue(found.contains("shard 0: request 1 is not in its share of the plan"), "\(found)")
        XCTAssertTrue(found.contains("3 planned requests have no record (the first: 4, 6, 8)"), "\(found)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: RunDirectory.recordsURL(in: out).path), "the partial file is removed")
    }

    func testNothingToMerge() throws {
        XCTAssertTrue(try XCTUnwrap(problems().first).contains("no such directory; run `metron run --shard I/N"))
        let started = out.appendingPathComponent("shards/0")
        try FileManager.default.createDirectory(at: started, withIntermediateDirectories: true)
        XCTAssertEqual(problems(), ["\(started.path): no run.json (the shard has not started)"])
    }
}
