import Foundation
import MetronModel
import MetronReport
import MetronSearch
import MetronSweep
import MetronTestSupport
import XCTest

final class SweepRunTests: XCTestCase {
    var root: URL!

    override func setUp() {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-sweeprun-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    let yaml = """
        name: pair
        systems:
          - {name: big, url: "http://127.0.0.1:9001/v1", gpus: 2, usd_per_hour: 8}
          - {name: small, url: "http://127.0.0.1:9002/v1", gpus: 1, usd_per_hour: 2}
        workloads:
          - {name: chat}
        slos:
          - {name: p99, prefill_model: per_system, ttft_slack_s: 0.3}
        search: {start_rate: 2}
        prefill: {lengths: [256, 1024, 4096], requests_per_length: 2}
        """

    static func truth(_ system: SystemSpec) -> ScriptedProbeRunner {
        ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: system.name == "big" ? 10 : 5, scale: 0.4), seed: 5)
    }

    func sweepRun(parallel: Int? = nil, _ runner: @escaping @Sendable (SystemSpec) -> any ProbeRunner) throws -> SweepRun {
        var parsed = try SweepFile.parse(yaml, file: "pair.yaml", baseDirectory: root)
        parsed.search.parallelSystems = parallel
        let sweep = parsed
        return SweepRun(sweep: sweep, resultsRoot: root, measurement: .virtual, makeRunner: { system, _ in runner(system) },
                        prefillModel: { system in try await PrefillProfiler.profile(sweep.prefill, runner: LinearPrefill(), system: system.name) })
    }

    func testSweepWritesTheResultsLayoutAndRanksSystems() async throws {
        let run = try sweepRun { Self.truth($0) }
        let searches = try await run.run()
        XCTAssertEqual(searches.map(\.system.name), ["big", "small"])
        XCTAssertEqual(searches.first?.deadlinesFrom, "prefill model of big")
        let layout = run.layout
        for system in ["big", "small"] {
            XCTAssertNoThrow(try PrefillModel.load(from: layout.prefillModel(system: system)))
            let result = try CapacityResult.read(from: layout.search(system: system, workload: "chat", slo: "p99"))
            XCTAssertTrue(result.slo.ttftDeadline.contains("prefill polynomial"), result.slo.ttftDeadline)
            for probe in result.probes {
                let dir = layout.probes(system: system, workload: "chat").appendingPathComponent(probe.directory)
                XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("requests.jsonl").path))
            }
        }
        let csv = try String(contentsOf: layout.capacityCSV, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 3)
        XCTAssertTrue(try csv.element(at: 1).hasPrefix("big,"))
        let rows = SweepRankings.rows(searches, qualified: false)
        XCTAssertEqual(rows.map(\.system), ["big", "small"])
        let ranking = SweepRankings.text(searches)
        XCTAssertTrue(ranking.hasPrefix("workload chat, SLO p99: P99 fluidity-index >= 0.9"), ranking)
        XCTAssertNotNil(ranking.range(of: #"\d\.\d\dx next \[\d\.\d\d, \d\.\d\d\] \(paired: 6 plans at \d+\.\d\d\): higher than small"#,
                                      options: .regularExpression), ranking)
    }

    func testKilledSweepResumesAndProducesTheSameTable() async throws {
        let complete = try await sweepRun { Self.truth($0) }.run()
        let expected = try String(contentsOf: ResultsLayout(root: root, sweep: "pair").capacityCSV, encoding: .utf8)
        try FileManager.default.removeItem(at: root)

        // First attempt, one search at a time, dies after five probes (the first system's search is cut
        // short, the second never starts), over the table of an earlier run: that table must not stand
        // beside the new probes.
        try FileManager.default.createDirectory(at: ResultsLayout(root: root, sweep: "pair").sweepDirectory, withIntermediateDirectories: true)
        try expected.write(to: ResultsLayout(root: root, sweep: "pair").capacityCSV, atomically: true, encoding: .utf8)
        let dying = try sweepRun(parallel: 1) { DyingRunner(Self.truth($0), probes: 5) }
        do {
            _ = try await dying.run()
            XCTFail("expected the sweep to stop")
        } catch let error as SearchError {
            XCTAssertEqual(error.completed.count, 5)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: ResultsLayout(root: root, sweep: "pair").capacityCSV.path),
                       "an aborted sweep leaves no table")
        // The rerun measures only what is missing and ends with the same table.
        let counters = ["big": CountingRunner(Self.truth(SystemSpec.named("big"))), "small": CountingRunner(Self.truth(SystemSpec.named("small")))]
        let resumed = try await sweepRun { counters[$0.name] ?? CountingRunner(Self.truth($0)) }.run()
        // Then both are compared on the same shared plans, which the dying run never reached.
        let plans = try XCTUnwrap(complete.element(at: 0).result.pairedWithNext?.comparison.first.count)
        XCTAssertEqual(counters["big"]?.count, try complete.element(at: 0).result.probes.count - 5 + plans)
        XCTAssertEqual(counters["small"]?.count, try complete.element(at: 1).result.probes.count + plans)
        XCTAssertEqual(resumed.map(\.result), complete.map(\.result))
        XCTAssertEqual(try String(contentsOf: ResultsLayout(root: root, sweep: "pair").capacityCSV, encoding: .utf8), expected)
    }
}
