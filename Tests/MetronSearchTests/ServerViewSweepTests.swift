import Foundation
import MetronModel
import MetronReport
import MetronSearch
import MetronSweep
import MetronTestSupport
import XCTest

final class ServerViewSweepTests: XCTestCase {
    var root: URL!

    override func setUp() {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-serverview-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    static let yaml = """
        name: evidence
        systems:
          - {name: big, url: "http://127.0.0.1:9001/v1", gpus: 2, usd_per_hour: 8}
          - {name: small, url: "http://127.0.0.1:9002/v1", gpus: 1, usd_per_hour: 2}
        workloads:
          - {name: chat}
        slos:
          - {name: p99, prefill_model: per_system, ttft_slack_s: 0.3}
        search: {start_rate: 2}
        prefill: {lengths: [256, 1024, 4096], requests_per_length: 2}
        probe: {server_metrics_url: "http://127.0.0.1:9999/metrics"}
        """

    /// Runs the sweep and returns its directory.
    static func runSweep(root: URL) async throws -> (SweepRun, [SweepSearch]) {
        let sweep = try SweepFile.parse(yaml, file: "evidence.yaml", baseDirectory: root)
        let run = SweepRun(
            sweep: sweep, resultsRoot: root, measurement: .virtual,
            makeRunner: { system, _ in
                let capacity = system.name == "big" ? 10.0 : 5
                return ScrapedRunner(
                    inner: ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: capacity, scale: 0.4), seed: 5),
                    capacity: capacity)
            },
            prefillModel: { system in try await PrefillProfiler.profile(sweep.prefill, runner: LinearPrefill(), system: system.name) })
        return (run, try await run.run())
    }

    func testProbesCarryTheServersViewIntoFilesAndReasons() async throws {
        let (run, searches) = try await Self.runSweep(root: root)
        XCTAssertEqual(run.sweep.probe.serverMetricsURL, "http://127.0.0.1:9999/metrics")
        let result = try XCTUnwrap(searches.first?.result)
        let failed = try XCTUnwrap(result.probes.filter { !$0.passed }.max { $0.rate < $1.rate }, result.probeTable)
        let server = try XCTUnwrap(failed.server)
        XCTAssertEqual(server.peakKVCacheUsage, 1)
        XCTAssertGreaterThan(server.preemptions ?? 0, 0)
        XCTAssertGreaterThan(server.peakWaiting ?? 0, 0)
        XCTAssertEqual(failed.reasons.last, server.sentence)
        XCTAssertTrue(server.sentence.hasPrefix("server: KV cache 100 % full, "), server.sentence)
        XCTAssertTrue(server.sentence.contains("waiting"), server.sentence)
        let ttft = try XCTUnwrap(failed.serverTTFT)
        XCTAssertEqual(ttft.offsetS, [0, 0], "the same TTFTs in the same buckets")
        XCTAssertTrue(ttft.withinTolerance)
        XCTAssertEqual(ttft.serverRequests, Double(ttft.clientRequests))
        let passed = try XCTUnwrap(result.probes.first(where: \.passed))
        XCTAssertNotNil(passed.server)
        XCTAssertFalse(passed.reasons.contains { $0.hasPrefix("server:") }, "a passing probe needs no excuse")

        let probeDir = run.layout.probes(system: "big", workload: "chat").appendingPathComponent(failed.directory)
        let lines = try String(contentsOf: probeDir.appendingPathComponent("server_metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 5)
        XCTAssertTrue(lines.contains { $0.contains("\"error\":\"GET http://127.0.0.1:1/metrics failed") }, "a failed scrape is a line")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: probeDir.appendingPathComponent("summary.json"))) as? [String: Any]
        let view = try XCTUnwrap(summary?["server"] as? [String: Any])
        XCTAssertEqual(view["peak_kv_cache_usage"] as? Double, 1)
        XCTAssertEqual(view["failed_scrapes"] as? Int, 1)
        XCTAssertNotNil(summary?["requests"] ?? summary?["fluidity"], "the client's summary is still there")

        // A rerun reuses the cached probes, scrapes included.
        let (_, again) = try await Self.runSweep(root: root)
        XCTAssertEqual(again.first?.result.probes.map(\.server), result.probes.map(\.server))
    }

    func testSweepFileSwitchesAndChecksTheScrape() throws {
        let off = try SweepFile.parse(Self.yaml.replacingOccurrences(
            of: "probe: {server_metrics_url: \"http://127.0.0.1:9999/metrics\"}", with: "probe: {server_metrics: false}"),
            file: "s.yaml", baseDirectory: root)
        XCTAssertFalse(off.probe.serverMetrics)
        XCTAssertTrue(try SweepFile.parse(Self.yaml, file: "s.yaml", baseDirectory: root).probe.serverMetrics)
        XCTAssertThrowsError(try SweepFile.parse(Self.yaml.replacingOccurrences(of: "http://127.0.0.1:9999/metrics", with: "ftp://x"),
                                                 file: "s.yaml", baseDirectory: root)) { error in
            XCTAssertTrue("\(error)".contains("probe.server_metrics_url: expected an http:// or https:// URL"), "\(error)")
        }
    }
}

final class SweepProgressTests: XCTestCase {
    func testTimeLeftComesFromTheProbesSoFar() {
        var p = SweepProgress(search: 1, searches: 2, label: "a/chat/p99", probes: 0, probeLimit: 12, probesBefore: 0,
                              finishedSearches: 0, elapsedS: 5)
        XCTAssertNil(p.remainingS, "no probe finished yet")
        XCTAssertEqual(p.line(), "search 1/2 a/chat/p99: probe 1 of at most 12, 5s elapsed")
        p.probes = 4
        p.elapsedS = 40
        // 10 s a probe; the budget bounds this search (8 more) and the next (12).
        XCTAssertEqual(p.remainingS, 200)
        p = SweepProgress(search: 2, searches: 3, label: "b", probes: 2, probeLimit: 12, probesBefore: 6, finishedSearches: 1,
                          elapsedS: 80)
        // 10 s a probe; a finished search took 6: 4 more here, 6 in the last one.
        XCTAssertEqual(p.remainingS, 100)
        XCTAssertEqual(p.line(after: 30), "search 2/3 b: probe 3 of at most 12, 1m50s elapsed, about 1m10s left")
        XCTAssertEqual(SweepProgress.duration(3725), "1h02m")
    }

    func testSweepReportsEachSearchAndProbe() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-progress-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let seen = Reasons()
        var sweep = try SweepFile.parse(ServerViewSweepTests.yaml, file: "e.yaml", baseDirectory: root)
        sweep.search.parallelSystems = 1
        let prefill = sweep.prefill
        let run = SweepRun(
            sweep: sweep, resultsRoot: root, measurement: .virtual,
            makeRunner: { _, _ in ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: 6, scale: 0.4), seed: 5) },
            prefillModel: { system in try await PrefillProfiler.profile(prefill, runner: LinearPrefill(), system: system.name) })
        let searches = try await run.run(status: { seen.add($0.line()) })
        let lines = seen.all
        XCTAssertEqual(lines.filter { $0.contains("probe 1 of at most 12") }.count, 2, "each search starts at its first probe")
        XCTAssertEqual(lines.count, 2 + searches.map(\.result.probes.count).reduce(0, +))
        XCTAssertTrue(lines.first?.hasPrefix("search 1/2 big/chat/p99: probe 1") == true, lines.first ?? "")
        XCTAssertTrue(lines.last?.hasPrefix("search 2/2 small/chat/p99") == true, lines.last ?? "")
        XCTAssertTrue(lines.dropFirst().allSatisfy { $0.contains("left") }, "an estimate once a probe has finished")
    }
}

extension SweepProgressTests {
    func testASpentBudgetSaysSo() {
        let p = SweepProgress(search: 1, searches: 1, label: "a", probes: 6, probeLimit: 6, probesBefore: 0, finishedSearches: 0,
                              elapsedS: 12)
        XCTAssertEqual(p.line(), "search 1/1 a: 6 probes done, 12s elapsed, about 0s left")
    }
}
