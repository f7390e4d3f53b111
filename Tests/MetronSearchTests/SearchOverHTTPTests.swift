import Foundation
import MetronModel
import MetronLoad
import MetronSearch
import MetronSweep
import MetronTestSupport
import MetronSim
import MetronSimModel
import XCTest

/// The capacity search over HTTP against the simulator, checked against the capacity of the same
/// system found the long way in virtual time (`VirtualGroundTruth`: a fine grid of rates, many probes
/// each, judged like the search's probes).
///
/// Small settings keep it fast: outputs of a few tokens and a capacity of about 17 (vLLM) and 23 (Sarathi)
/// requests per second, so that a probe of at least 100 requests takes several seconds of real time, and
/// a search one to two minutes. Chosen so that containment is not marginal: the probes' plans are seeded, and with
/// 40 ms iterations the HTTP timing hardly varies, so repeated runs (alone, and beside a CPU-bound
/// process) gave almost the same intervals, with the truth about 9 % or more inside either end:
/// - every engine iteration costs at least 40 ms (`iterationOverheadS`), so the scheduling noise of a
///   loaded shared machine, a few milliseconds, changes the HTTP server's timing by a few percent at
///   most (with 15 ms iterations and a 0.1 s TTFT limit, a CPU-bound neighbour made the HTTP server
///   measurably slower than its virtual-time model, and the interval missed);
/// - the SLO is P90 TTFT <= 0.25 s and P90 TBT <= 0.25 s: over 100 requests a 10th percentile is a
///   stable statistic, where a 1st percentile is the sample's extreme; and the fraction of requests
///   within a TTFT limit falls smoothly with load, well before the queue runs away, so the probes near
///   capacity are valid and the curve has a slope the fit can see (a fluidity SLO on this deployment
///   drops from "holds" to "backlog" within a few percent of rate, where one lucky probe decides the
///   answer);
/// - the interval is asked with a relative width of 0.4 within 16 probes; the test needs it finite and
///   under 1.5 times the capacity, so a search that learns nothing fails (nothing learnt leaves an
///   interval from 0 to twice the highest probe). It is often wider than asked: the attainment here
///   falls by only about 0.015 per req/s while a probe of 100 to 160 requests scatters by several
///   hundredths, so honest intervals from a dozen such probes are wide (with 12 probes, vLLM's relative
///   width was 0.2 to 0.86 in runs beside two CPU-bound processes and 1.06 in one on a quiet machine;
///   Sarathi's 0.35 to 0.47, usually converging before the budget);
/// - the client's lag limit is 50 ms rather than 10 ms: on a loaded shared machine the client's own
///   timer may be late by more than 10 ms now and then, which would make probes invalid (counted as
///   over capacity) for reasons that have nothing to do with the server.
final class SearchOverHTTPTests: XCTestCase {
    static func config(_ kind: SchedulerKind) -> SimulatorConfig {
        var efficiency = EfficiencyConstants.standard
        efficiency.iterationOverheadS = 0.04
        return SimulatorConfig(
            hardware: .h100, model: .llama3_8b, scheduler: SchedulerConfig(kind: kind, tokenBudget: 512),
            efficiency: efficiency, seed: 1)
    }

    static let workload = WorkloadSpec(
        arrival: .poisson, lengths: .distributions(prompt: .uniform(min: 64, max: 512), output: .uniform(min: 4, max: 12)),
        seed: 7)

    static let slo = SLO(
        name: "p90-ttft-tbt",
        kind: .ttftTBT(ttft: LatencyLimit(percentile: 90, limitS: 0.25), tbt: LatencyLimit(percentile: 90, limitS: 0.25)),
        deadlines: FluidityDeadlines(ttft: .fixed(0.25), tbt: 0.05))

    static var window: ProbeWindow {
        var w = ProbeWindow()
        w.durationS = 2
        w.requests = 1
        w.bracketRequests = 1
        w.warmupS = 1
        return w
    }

    static var rules: ValidityRules {
        var r = ValidityRules()
        r.minRequests = 100
        r.drainGraceS = 2
        r.lagThresholdS = 0.05
        return r
    }

    static var planner: ProbePlanner { ProbePlanner(workload: workload, window: window, minRequests: rules.minRequests) }

    static func settings(start: Double) -> SearchSettings {
        var s = SearchSettings()
        s.startRate = start
        s.relativeCIWidth = 0.4
        s.probeBudget = 16
        return s
    }

    /// The virtual-time ground truth: a coarse scan, then steps of 0.5 req/s with 40 probes each.
    static func groundTruth(_ config: SimulatorConfig, coarse: inout [String]) throws -> VirtualGroundTruth.Result {
        var scan: [String] = []
        let result = try VirtualGroundTruth(config: config, planner: planner, slo: slo, rules: rules, probesPerRate: 80)
            .locate(maxRate: 200, coarseStep: 4, coarseProbes: 8, fineStep: 0.5, fineSpan: 4) {
                scan.append(String(format: "%.1f: %.4f (%.2f pass, %.2f valid)", $0.rate, $0.attainment, $0.passFraction, $0.validFraction))
            }
        coarse = scan
        return result
    }

    func check(_ kind: SchedulerKind) async throws {
        let config = Self.config(kind)
        var coarse: [String] = []
        let truth = try Self.groundTruth(config, coarse: &coarse)
        let table = truth.points.map { String(format: "%.2f: %.4f (%.2f pass)", $0.rate, $0.attainment, $0.passFraction) }
            .joined(separator: "; ")
        let capacity = try XCTUnwrap(truth.capacity, "no crossing in the ground truth: \(coarse.joined(separator: "; "))")

        let server = try await SimulatorServer.start(SimulatorServerOptions(simulator: config))
        let target = ServerTarget(url: server.url, model: config.model.name)
        let shape = RequestShape(ignoreEOS: true)
        let result: CapacityResult
        do {
            let calibration = try PromptCalibration.measure(target: target, shape: shape, timeout: 10)
            let options = LoadOptions(drainTimeout: Self.rules.drainGraceS, calibrationWakeups: 20)
            let generator = LoadGenerator(target: target, shape: shape, prompts: calibration.builder, options: options)
            let runner = LoadProbeRunner(generator: generator, planner: Self.planner)
            // Start at about half the true capacity: the search still has to find the bracket itself; the
            // truth only decides where it starts, so that each scheduler is searched from a similar place.
            let search = CapacitySearch(runner: runner, slo: Self.slo, rules: Self.rules,
                                        settings: Self.settings(start: (capacity / 2).rounded()))
            result = try await search.run()
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()

        let probes = result.probes.map {
            String(format: "%.2f %@ (attainment %.4f, %d requests)", $0.rate, $0.passed ? "pass" : ($0.valid ? "fail" : "invalid"),
                   $0.attainment, $0.requests)
        }.joined(separator: "; ")
        let report = String(format: "%@: truth %.3f req/s; search %@ [%@, %@], %@; probes: %@; truth grid: %@",
                            kind.rawValue, capacity, f(result.maxQPS), f(result.ciLow), f(result.ciHigh),
                            result.stopReason.rawValue, probes, table)
        print(report)
        // Probes of about 140 requests over real HTTP may not pin the capacity down: then the search
        // must say so and why. A number it does give must hold.
        if let why = result.undetermined {
            XCTAssertTrue(result.summaryText.contains("capacity not determined") && result.summaryText.contains(why), report)
            XCTAssertEqual(result.intervalMethod, .settledRange, report)
            return
        }
        let q = try XCTUnwrap(result.maxQPS, report)
        let lo = try XCTUnwrap(result.ciLow, report), hi = try XCTUnwrap(result.ciHigh, report)
        XCTAssertTrue(lo.isFinite && hi.isFinite && lo <= q && q <= hi, report)
        XCTAssertLessThan((hi - lo) / q, 1.5, "interval too wide to mean anything: " + report)
        XCTAssertTrue((lo...hi).contains(capacity), "the interval misses the ground truth: " + report)
    }

    private func f(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "-" }

    func testVLLMSchedulerOverHTTPMatchesVirtualGroundTruth() async throws { try await check(.vllm) }

    func testSarathiSchedulerOverHTTPMatchesVirtualGroundTruth() async throws { try await check(.sarathi) }
}
