import Foundation
import MetronModel
import MetronReport
import MetronSearch
import MetronStats
import MetronSweep
import XCTest

final class PairedComparisonTests: XCTestCase {
    /// A curve of width 0.4 around 10 req/s, fitted to many large probes: its width is known closely.
    static let curve: AttainmentCurve = {
        let points = stride(from: 8.0, through: 12.0, by: 0.25).map { r in
            AttainmentPoint(rate: r, attainment: 1 / (1 + exp((r - 10) / 0.4)), trials: 100_000)
        }
        return try! AttainmentCurve.fit(points)
    }()

    /// Plans at `rate` whose luck `u` moves both systems' logits alike; the second is the first slowed
    /// by `rho` (`a2(r) = a1(rho r)`), plus a little luck of its own.
    static func plans(rate: Double, rho: Double, own: [Double] = [0.02, -0.03, 0.01, 0.04, -0.02, 0.0])
        -> (first: [AttainmentPoint], second: [AttainmentPoint]) {
        let luck = [0.4, -0.3, 0.8, -0.6, 0.1, 0.5]
        let s = curve.scale, r0 = curve.midpoint
        func point(_ logit: Double) -> AttainmentPoint {
            AttainmentPoint(rate: rate, attainment: 1 / (1 + exp(-logit)), trials: 100_000)
        }
        return (luck.map { point((r0 - rate) / s + $0) },
                zip(luck, own).map { u, e in point((r0 - rho * rate) / s + u + e) })
    }

    func testASlowerSecondSystemIsCalledLowerAndTheRatioHoldsItsSlowdown() {
        let rate = 9.0
        let (first, second) = Self.plans(rate: rate, rho: 1.08)
        let c = PairedComparison(rate: rate, first: first, second: second, firstCurve: Self.curve, confidence: 0.95)
        XCTAssertNil(c.noTest)
        XCTAssertEqual(c.higher, true)
        let lo = try! XCTUnwrap(c.ciLow), hi = try! XCTUnwrap(c.ciHigh)
        XCTAssertTrue((lo...hi).contains(1.08), "[\(lo), \(hi)]")
        XCTAssertGreaterThan(lo, 1)
        XCTAssertEqual(try XCTUnwrap(c.ratio), 1.08, accuracy: 0.01)
    }

    func testPlansThatDisagreeMoreThanTheySeparateClaimNothing() {
        let rate = 9.0
        // A 1 % slowdown under luck of its own ten times larger.
        let (first, second) = Self.plans(rate: rate, rho: 1.01, own: [0.3, -0.4, 0.2, -0.3, 0.4, -0.2])
        let c = PairedComparison(rate: rate, first: first, second: second, firstCurve: Self.curve, confidence: 0.95)
        XCTAssertNil(c.noTest)
        XCTAssertEqual(c.higher, false)
        XCTAssertLessThan(try XCTUnwrap(c.ciLow), 1)
        XCTAssertGreaterThan(try XCTUnwrap(c.ciHigh), 1)
    }

    func testASecondSystemThatIsFasterAfterAllIsNoClaimEitherWay() {
        let rate = 9.0
        let (first, second) = Self.plans(rate: rate, rho: 0.92)
        let c = PairedComparison(rate: rate, first: first, second: second, firstCurve: Self.curve, confidence: 0.95)
        XCTAssertEqual(c.higher, false, "against the ranking's order: no difference is claimed")
        XCTAssertLessThan(try XCTUnwrap(c.ciHigh), 1)
    }

    func testWithoutScatterOrCurveOrPlansThereIsNoTest() {
        let rate = 9.0
        let (first, _) = Self.plans(rate: rate, rho: 1)
        let same = PairedComparison(rate: rate, first: first, second: first, firstCurve: Self.curve, confidence: 0.95)
        XCTAssertEqual(same.noTest, "every shared plan gave the same difference: no scatter to judge it by")
        XCTAssertNil(same.higher)
        XCTAssertNil(same.ciLow)
        let (a, b) = Self.plans(rate: rate, rho: 1.08)
        XCTAssertEqual(PairedComparison(rate: rate, first: a, second: b, firstCurve: nil, confidence: 0.95).noTest,
                       "no fitted curve to scale the difference by")
        XCTAssertEqual(PairedComparison(rate: rate, first: Array(a.prefix(1)), second: Array(b.prefix(1)), firstCurve: Self.curve,
                                        confidence: 0.95).noTest, "fewer than two shared plans")
    }

    func testProbesWithoutAMissStillGiveAFiniteRatio() throws {
        let rate = 9.0
        let full = Array(repeating: AttainmentPoint(rate: rate, attainment: 1, trials: 1000), count: 4)
        let missing = [0.97, 0.96, 0.975, 0.95].map { AttainmentPoint(rate: rate, attainment: $0, trials: 1000) }
        let c = PairedComparison(rate: rate, first: full, second: missing, firstCurve: Self.curve, confidence: 0.95)
        XCTAssertEqual(c.higher, true)
        XCTAssertTrue(try XCTUnwrap(c.ciHigh).isFinite)
        XCTAssertTrue(try XCTUnwrap(c.ratio).isFinite)
    }

    func testTheRankingTakesThePairedRatioForItsNextSystemOnly() {
        let rate = 9.0
        let (first, second) = Self.plans(rate: rate, rho: 1.08)
        let paired = PairedWithNext(system: "slow", comparison: PairedComparison(
            rate: rate, first: first, second: second, firstCurve: Self.curve, confidence: 0.95))
        // Intervals this wide would never tell the two apart.
        let fast = SystemCapacity(system: "fast", maxQPS: 10.8, ciLow: 8, ciHigh: 13, outputTokensPerS: nil, gpus: 1, usdPerHour: nil,
                                  statisticalInterval: true, pairedWithNext: paired)
        let slow = SystemCapacity(system: "slow", maxQPS: 10, ciLow: 7.5, ciHigh: 12, outputTokensPerS: nil, gpus: 1, usdPerHour: nil,
                                  statisticalInterval: true)
        let ratio = CapacityRatio(fast, over: slow)
        XCTAssertEqual(ratio.higher, true)
        XCTAssertNotNil(ratio.paired)
        XCTAssertTrue(CapacityTable.comparison(fast, slow).contains("(paired: 6 plans at 9.00): higher than slow"),
                      CapacityTable.comparison(fast, slow))
        XCTAssertTrue(CapacityTable.csv([fast, slow]).contains(",true,6\n"), CapacityTable.csv([fast, slow]))
        // Against another system the comparison says nothing: the intervals decide.
        var other = slow
        other.system = "other"
        XCTAssertNil(CapacityRatio(fast, over: other).paired)
        XCTAssertEqual(CapacityRatio(fast, over: other).higher, false)
    }

    /// An H100 against one with 6 % more compute and bandwidth, both under the stock H100's deadlines.
    static let pairSweep = """
        name: pair
        systems:
          - name: h100
            simulator: {hardware: h100, model: llama-3-8b, scheduler: vllm}
          - name: h100-faster
            simulator:
              hardware: {name: H100-x1.06, peak_tflops: 1048.3, memory_bandwidth_gb_s: 3551, memory_gb: 80, interconnect_gb_s: 450}
              model: llama-3-8b
              scheduler: vllm
        workloads:
          - name: chat
            arrival: poisson
            prompt_tokens: {distribution: uniform, min: 128, max: 2048}
            output_tokens: {distribution: uniform, min: 32, max: 128}
            seed: 1
        slos:
          - name: p99
            type: fluidity
            percentile: 99
            fluidity_target: 0.9
            tbt_deadline_s: 0.03
            prefill_model: reference
            reference_system: h100
            ttft_slack_s: 0.3
        search: {start_rate: 8, probe_budget: 12}
        prefill: {lengths: [128, 512, 2048], requests_per_length: 2}
        """

    func testASweepComparesNeighboursOnSharedPlansAndARerunMeasuresNothing() async throws {
        let sweep = try SweepFile.parse(Self.pairSweep, file: "pair.yaml", baseDirectory: FileManager.default.temporaryDirectory)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-paired-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let searches = try await VirtualQuickstartTests.runInVirtualTime(sweep, root: root)
        let ranked = searches.sorted { ($0.result.maxQPS ?? 0) > ($1.result.maxQPS ?? 0) }
        let (first, second) = (try XCTUnwrap(ranked.first), try XCTUnwrap(ranked.last))
        XCTAssertNotNil(first.result.maxQPS)
        XCTAssertNotNil(second.result.maxQPS)
        let paired = try XCTUnwrap(first.result.pairedWithNext, "the higher system keeps the comparison")
        XCTAssertNil(second.result.pairedWithNext, "the last system of a ranking has no next")
        XCTAssertEqual(paired.system, second.system.name)
        XCTAssertEqual(paired.comparison.first.count, PairedComparison.defaultPlans)
        XCTAssertEqual(paired.comparison.rate,
                       ProbeRequest.round((first.result.maxQPS! * second.result.maxQPS!).squareRoot()))
        let layout = ResultsLayout(root: root, sweep: sweep.name)
        let saved = try CapacityResult.read(from: layout.search(system: first.system.name, workload: "chat", slo: "p99"))
        XCTAssertEqual(saved.pairedWithNext, paired)
        let text = SweepRankings.text(searches)
        XCTAssertTrue(text.contains("(paired: 6 plans at "), text)
        let csv = try String(contentsOf: layout.capacityCSV, encoding: .utf8)
        XCTAssertTrue(csv.contains(",6\n"), csv)
        let report = try String(contentsOf: layout.sweepDirectory.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(report.contains("(paired: 6 plans at "), "the report reads the comparison back from capacity.json")
        // The shared plans' probes are kept with each system's others: a rerun finds them all.
        let again = try await VirtualQuickstartTests.runInVirtualTime(sweep, root: root)
        XCTAssertEqual(again.map(\.result.pairedWithNext), searches.map(\.result.pairedWithNext))
        for system in sweep.systems {
            let probes = try FileManager.default.contentsOfDirectory(atPath: layout.probes(system: system.name, workload: "chat").path)
            XCTAssertEqual(probes.filter { $0.hasPrefix("rate-\(String(format: "%.3f", paired.comparison.rate))") }.count,
                           PairedComparison.defaultPlans, "\(system.name): \(probes.sorted())")
        }
    }

    func testPairedPlansOfOneOrBelowZeroAreRefused() throws {
        for (value, message) in [("1", "search.paired_plans: one plan gives no interval for the ratio; expected 0 (compare intervals only) or at least 2, got 1"),
                                 ("-1", "search.paired_plans")] {
            let text = Self.pairSweep.replacingOccurrences(of: "search: {start_rate: 8, probe_budget: 12}",
                                                            with: "search: {start_rate: 8, paired_plans: \(value)}")
            XCTAssertThrowsError(try SweepFile.parse(text, file: "pair.yaml", baseDirectory: FileManager.default.temporaryDirectory)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
                XCTAssertTrue("\(error)".contains("pair.yaml:"), "says where: \(error)")
            }
        }
        let off = Self.pairSweep.replacingOccurrences(of: "probe_budget: 12}", with: "probe_budget: 12, paired_plans: 0}")
        XCTAssertEqual(try SweepFile.parse(off, file: "pair.yaml", baseDirectory: FileManager.default.temporaryDirectory).search.pairedPlans, 0)
    }
}
