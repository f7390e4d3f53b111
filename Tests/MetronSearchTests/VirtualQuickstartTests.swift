import Foundation
import MetronModel
import MetronReport
import MetronSearch
import MetronSweep
import XCTest

/// `sweeps/quickstart.yaml` in virtual time, wired the way `metron sweep --simulate` wires it
/// (`SystemConnections(mode: .virtual)` for probes and prefill profiles): every system gets its
/// results, and the sweep its table.
final class VirtualQuickstartTests: XCTestCase {
    /// Every search of `sweep` in virtual time, into `root`.
    static func runInVirtualTime(_ sweep: SweepFile, root: URL) async throws -> [SweepSearch] {
        let connections = SystemConnections(sweep: sweep, mode: .virtual)
        let run = SweepRun(
            sweep: sweep, resultsRoot: root, measurement: .virtual,
            makeRunner: { system, workload in try await connections.runner(system: system, workload: workload.spec) },
            prefillModel: { system in
                let runner = try await connections.runner(system: system, workload: WorkloadSpec())
                return try await PrefillProfiler.profile(sweep.prefill, runner: runner, system: system.name)
            })
        let searches = try await run.run()
        await connections.shutdown()
        return searches
    }

    func testQuickstartSweepInVirtualTimeWritesEveryResult() async throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let sweep = try SweepFile.load(path: repo.appendingPathComponent("sweeps/quickstart.yaml").path)
        XCTAssertEqual(SystemConnections.problems(systems: sweep.systems, mode: .virtual), [])
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-quickstart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }

        let searches = try await Self.runInVirtualTime(sweep, root: root)

        XCTAssertEqual(searches.map(\.system.name), sweep.systems.map(\.name))
        let layout = ResultsLayout(root: root, sweep: sweep.name)
        let csv = try String(contentsOf: layout.capacityCSV, encoding: .utf8)
        let lines = csv.split(separator: "\n")
        XCTAssertEqual(lines.first.map(String.init),
                       "system,max_qps,ci_low,ci_high,output_tokens_per_s,gpus,usd_per_hour,qps_per_gpu,usd_per_million_output_tokens,"
                           + "ratio_to_next,ratio_ci_low,ratio_ci_high,higher_than_next,ratio_paired_plans")
        XCTAssertEqual(lines.count, 1 + sweep.systems.count, csv)
        let workload = try XCTUnwrap(sweep.workloads.first).name, slo = try XCTUnwrap(sweep.slos.first).name
        for (system, search) in zip(sweep.systems, searches) {
            XCTAssertTrue(lines.contains { $0.hasPrefix("\(system.name),") }, csv)
            let directory = layout.search(system: system.name, workload: workload, slo: slo)
            let saved = try CapacityResult.read(from: directory)
            XCTAssertEqual(saved, search.result)
            XCTAssertTrue(saved.simulated, "virtual-time results say so")
            XCTAssertFalse(saved.probes.isEmpty)
            // Every simulated system has a capacity within the probed range, or says why not, where
            // the capacity lies and its probes' bracket.
            if let why = saved.undetermined {
                XCTAssertTrue(saved.ciLow != nil || saved.ciHigh != nil, "\(system.name): \(why)")
                XCTAssertNotNil(saved.highestPass, "\(system.name): \(why)")
                XCTAssertEqual(saved.intervalMethod, .settledRange)
                XCTAssertNil(saved.maxQPS)
            } else {
                let q = try XCTUnwrap(saved.maxQPS, "\(system.name): \(saved.warnings)")
                XCTAssertGreaterThan(q, 0)
            }
            let plots = try JSONSerialization.jsonObject(
                with: Data(contentsOf: directory.appendingPathComponent(PlotData.fileName))) as? [String: Any]
            XCTAssertNotNil(plots, "\(system.name): plots.json is a JSON object")
            XCTAssertFalse(plots?.isEmpty ?? true)
        }
        // The reference system's prefill model sets everyone's deadlines, and it is saved.
        XCTAssertTrue(FileManager.default.fileExists(atPath: layout.prefillModel(system: "h100-vllm").path))
        XCTAssertTrue(SweepRankings.text(searches).hasPrefix("SIMULATED"))
    }

    /// `sweeps/reasoning-sim.yaml`: one reasoning deployment judged on every token and on the answer
    /// alone. Reasoning costs decode work in both; the answer's view ignores the wait for it.
    func testReasoningSweepJudgesBothViews() async throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let sweep = try SweepFile.load(path: repo.appendingPathComponent("sweeps/reasoning-sim.yaml").path)
        XCTAssertEqual(sweep.slos.map(\.fluidityTokens), [.all, .visible])
        XCTAssertEqual(try XCTUnwrap(sweep.systems.first).api, .chat)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-reasoning-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let searches = try await Self.runInVirtualTime(sweep, root: root)
        XCTAssertEqual(searches.map(\.slo), ["every-token", "the-answer"])
        let layout = ResultsLayout(root: root, sweep: sweep.name)
        let all = try CapacityResult.read(from: layout.search(system: "h100-reasoning", workload: "think-then-answer", slo: "every-token"))
        let visible = try CapacityResult.read(from: layout.search(system: "h100-reasoning", workload: "think-then-answer", slo: "the-answer"))
        XCTAssertNil(all.slo.fluidityTokens)
        XCTAssertEqual(visible.slo.fluidityTokens, .visible)
        XCTAssertTrue(visible.slo.description.contains("visible tokens only"), visible.slo.description)
        XCTAssertNotNil(all.maxQPS ?? all.ciLow, all.warnings.joined())
        XCTAssertNotNil(visible.maxQPS ?? visible.ciLow, visible.warnings.joined())
    }
}
