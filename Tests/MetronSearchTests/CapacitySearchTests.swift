import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronTestSupport
import XCTest

final class CapacitySearchTests: XCTestCase {
    // Ground truth: attainment 1/2 at 10 req/s, dropping over 0.4 req/s; P99 capacity about 8.16.
    static let midpoint = 10.0, scale = 0.4
    let truth = ScriptedProbeRunner.capacity(midpoint: midpoint, scale: scale, level: 0.99)

    func runner(seed: UInt64) -> ScriptedProbeRunner {
        ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: Self.midpoint, scale: Self.scale), seed: seed)
    }

    func settings(_ strategy: SearchStrategy = .fitted, budget: Int = 16) -> SearchSettings {
        var s = SearchSettings()
        s.strategy = strategy
        s.startRate = 2
        s.probeBudget = budget
        s.relativeCIWidth = 0.1
        return s
    }

    func testFittedIntervalContainsTheTruthInMostSeeds() async throws {
        var covered = 0, converged = 0, probes = 0, error = 0.0, undetermined = 0
        let seeds = 1...30
        for seed in seeds {
            let result = try await CapacitySearch(runner: runner(seed: UInt64(seed)), slo: SLO(), settings: settings()).run()
            XCTAssertLessThanOrEqual(result.probes.count, 16)
            if result.undetermined != nil { undetermined += 1; continue }
            guard let lo = result.ciLow, let hi = result.ciHigh, let q = result.maxQPS else {
                XCTFail("seed \(seed): no capacity"); continue
            }
            probes += result.probes.count
            error += abs(q - truth) / truth
            XCTAssertLessThanOrEqual(lo, q)
            XCTAssertLessThanOrEqual(q, hi)
            if result.stopReason == .converged {
                converged += 1
                XCTAssertEqual(result.intervalMethod, .logisticProfile)
                XCTAssertLessThanOrEqual((hi - lo) / q, 0.1 + 1e-12)
            }
            if (lo...hi).contains(truth) { covered += 1 }
        }
        print("fitted, \(seeds.count) seeds: covered \(covered), converged \(converged), mean probes \(Double(probes) / Double(seeds.count)), "
              + "mean relative error \(error / Double(seeds.count))")
        XCTAssertLessThanOrEqual(undetermined, 3, "not determined \(undetermined) of \(seeds.count) times")
        XCTAssertGreaterThanOrEqual(covered, 25, "interval covered the truth \(covered) of \(seeds.count) times")
        XCTAssertGreaterThanOrEqual(converged, 25, "converged \(converged) of \(seeds.count) times")
    }

    func testAnEarlyStopNeedsTheIntervalNarrowBeforeTheLastProbeToo() async throws {
        // Stopping at the first narrow interval picks the moments when the probes happen to agree. The
        // search is deterministic given its probes, so the same search one probe shorter shows what it
        // knew before its last probe: that must already have been narrow.
        var stops = 0
        for seed in 1...30 {
            let full = try await CapacitySearch(runner: runner(seed: UInt64(seed)), slo: SLO(), settings: settings()).run()
            guard full.stopReason == .converged else { continue }
            stops += 1
            let before = try await CapacitySearch(runner: runner(seed: UInt64(seed)), slo: SLO(),
                                                  settings: settings(budget: full.probes.count - 1)).run()
            XCTAssertEqual(before.stopReason, .budgetSpent, "seed \(seed)")
            XCTAssertEqual(before.probes.map(\.rate), Array(full.probes.map(\.rate).dropLast()), "seed \(seed)")
            let lo = try XCTUnwrap(before.ciLow), hi = try XCTUnwrap(before.ciHigh), q = try XCTUnwrap(before.maxQPS)
            XCTAssertEqual(before.intervalMethod, .logisticProfile, "seed \(seed)")
            XCTAssertLessThanOrEqual((hi - lo) / q, 0.1 + 1e-12, "seed \(seed): the interval before the last probe")
        }
        XCTAssertGreaterThanOrEqual(stops, 10, "searches that stopped early")
    }

    func testBurstsOfMissesWidenTheIntervalAndItStillCoversTheTruth() async throws {
        // Misses in runs of 10 requests: probes disagree ten times more than binomial counts, which the
        // episodes inside each probe reveal even when a few probes happen to agree.
        var covered = 0, converged = 0, widths: [Int: [Double]] = [1: [], 10: []]
        for burst in [1, 10] {
            for seed in 1...20 {
                let r = ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: Self.midpoint, scale: Self.scale),
                                            seed: UInt64(seed), burst: burst)
                let result = try await CapacitySearch(runner: r, slo: SLO(), settings: settings(budget: 12)).run()
                let lo = try XCTUnwrap(result.ciLow), hi = try XCTUnwrap(result.ciHigh)
                widths[burst, default: []].append((hi - lo) / truth)
                if burst == 10, (lo...hi).contains(truth) { covered += 1 }
                if burst == 10, result.stopReason == .converged { converged += 1 }
            }
        }
        let mean = { (xs: [Double]?) in (xs ?? []).reduce(0, +) / Double(xs?.count ?? 0) }
        print("bursts of 10: covered \(covered) of 20, converged \(converged); mean relative width \(mean(widths[10])) "
              + "against \(mean(widths[1])) for single misses")
        XCTAssertGreaterThan(mean(widths[10]), 1.5 * mean(widths[1]), "\(widths)")
        XCTAssertGreaterThanOrEqual(covered, 17, "bursty misses: interval covered the truth \(covered) of 20 times")
    }

    func testFittedResultReportsTokensPerSecondAtCapacity() async throws {
        let result = try await CapacitySearch(runner: runner(seed: 3), slo: SLO(), settings: settings()).run()
        let q = try XCTUnwrap(result.maxQPS)
        // 10 output tokens per request over a window slightly longer than 60 s.
        XCTAssertEqual(try XCTUnwrap(result.outputTokensPerS) / q, 10, accuracy: 0.3)
        XCTAssertNotNil(result.curve)
        XCTAssertEqual(result.slo.attainmentLevel, 0.99)
        XCTAssertTrue(result.probeTable.contains("rate"))
        XCTAssertTrue(result.summaryText.contains("max sustainable QPS \(String(format: "%.3f", q))"), result.summaryText)
        XCTAssertTrue(result.summaryText.contains("95 % profile-likelihood interval"), result.summaryText)
        XCTAssertFalse(result.summaryText.contains("SIMULATED"))
    }

    func testBisectConvergesNearTheTruth() async throws {
        for seed in 1...5 {
            let result = try await CapacitySearch(runner: runner(seed: UInt64(seed)), slo: SLO(), settings: settings(.bisect, budget: 40)).run()
            XCTAssertEqual(result.stopReason, .bisectGranularity)
            XCTAssertEqual(result.intervalMethod, .bracket)
            let q = try XCTUnwrap(result.maxQPS)
            XCTAssertEqual(q, truth, accuracy: 0.12 * truth, "seed \(seed)")
            // The answer is a probe that passed, and nothing passed above the lowest failure over it.
            XCTAssertTrue(result.probes.contains { $0.rate == q && $0.passed })
        }
    }

    /// Transcripts of the reference's bisection (its loop run on a threshold verdict: pass exactly
    /// when the rate is at most the capacity), probe by probe. A rate it visits twice is judged by
    /// its first probe, so it reaches the runner once.
    func testBisectIsTheReferencesBisectionStepByStep() async throws {
        let transcripts: [(capacity: Double, start: Double, visited: [Double], maxQPS: Double?)] = [
            (10.7, 1.0, [1.0, 1.5, 1.75, 2.88, 3.44, 5.72, 6.86, 11.43, 9.14, 10.29, 10.86, 10.57, 10.71], 10.57),
            (17.96, 1.0, [1.0, 1.5, 1.75, 2.88, 3.44, 5.72, 6.86, 11.43, 13.71, 22.86, 18.29, 16.0, 17.14, 17.71, 18.0], 17.71),
            (0.37, 1.0, [1.0, 0.5, 0.25, 0.38, 0.32, 0.35, 0.36, 0.37, 0.38], 0.37),
            (84.2, 1.0, [1.0, 1.5, 1.75, 2.88, 3.44, 5.72, 6.86, 11.43, 13.71, 22.86, 27.43, 45.72, 54.86, 91.43, 73.15, 82.29, 86.86, 84.58, 83.44], 83.44),
            (3.3, 4.0, [4.0, 2.0, 3.0, 3.5, 3.25, 3.38, 3.31], 3.25),
            (0.004, 1.0, [1.0, 0.5, 0.25, 0.12, 0.06, 0.03, 0.01], nil),
            (50, 50.0, [50.0, 75.0, 62.5, 56.25, 53.12, 51.56, 50.78], 50.0),
            (1.234, 0.5, [0.5, 0.75, 0.88, 1.44, 1.16, 1.3, 1.23, 1.27, 1.25], 1.23),
            (99.9, 2.0, [2.0, 3.0, 3.5, 5.75, 6.88, 11.44, 13.72, 22.86, 27.43, 45.72, 54.86, 91.43, 109.72, 100.58, 96.0, 98.29], 98.29),
        ]
        for t in transcripts {
            let threshold = ScriptedProbeRunner(attainment: { $0 <= t.capacity ? 1 : 0 })
            var s = settings(.bisect, budget: 2)
            s.startRate = t.start
            let result = try await CapacitySearch(runner: threshold, slo: SLO(), settings: s).run()
            var distinct: [Double] = []
            for rate in t.visited where !distinct.contains(rate) { distinct.append(rate) }
            XCTAssertEqual(result.probes.map(\.rate), distinct, "capacity \(t.capacity), start \(t.start)")
            XCTAssertEqual(result.maxQPS, t.maxQPS, "capacity \(t.capacity), start \(t.start)")
            XCTAssertEqual(result.stopReason, .bisectGranularity, "the probe budget does not cut the bisection short")
        }
    }

    func testStepDropStopsOnANarrowBracket() async throws {
        let step = ScriptedProbeRunner(attainment: { $0 < 5 ? 1 : 0 })
        let result = try await CapacitySearch(runner: step, slo: SLO(), settings: settings()).run()
        XCTAssertEqual(result.stopReason, .bracketWithinWidth)
        XCTAssertEqual(result.intervalMethod, .bracket)
        let lo = try XCTUnwrap(result.ciLow), hi = try XCTUnwrap(result.ciHigh)
        XCTAssertLessThan(lo, 5)
        XCTAssertGreaterThanOrEqual(hi, 5)
        XCTAssertLessThanOrEqual((hi - lo) / lo, 0.1)
        XCTAssertEqual(result.maxQPS, lo)
        XCTAssertNil(result.undetermined, "a step as narrow as asked is an answer")
        XCTAssertTrue(result.summaryText.contains("bracket between probes, not a statistical interval"), result.summaryText)
        XCTAssertGreaterThanOrEqual(result.probes.filter { $0.passed && $0.rate >= lo }.count, 2, "its pass was repeated")
    }

    /// A cliff at 5 req/s with one lucky plan: the first attempt at `lucky` passes.
    struct LuckyRunner: ProbeRunner {
        let lucky: ClosedRange<Double>
        func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
            let pass = request.rate < 5 || (lucky.contains(request.rate) && request.attempt == 0)
            return ScriptedProbeRunner(attainment: { _ in pass ? 1 : 0 }).measure(request)
        }
    }

    func testOneLuckyPassOnACliffIsRepeatedBeforeItIsBelieved() async throws {
        let result = try await CapacitySearch(runner: LuckyRunner(lucky: 5.05...5.6), slo: SLO(), settings: settings()).run()
        let lucky = result.probes.filter { $0.passed && $0.rate >= 5 }
        XCTAssertFalse(lucky.isEmpty, "the scenario needs the lucky pass: \(result.probes.map(\.rate))")
        XCTAssertTrue(result.probes.contains { !$0.passed && lucky.map(\.rate).contains($0.rate) }, "it was repeated on a new plan")
        if let q = result.maxQPS { XCTAssertLessThan(q, 5, "\(result.summaryText)") }
        if let hi = result.ciHigh { XCTAssertGreaterThanOrEqual(hi, 5) }
    }

    func testNoHeadlineBelowARateThatPassedUnlessAFailureBelowItSaysSo() async throws {
        // Bursty misses and a drop gentler at the top than further down: what made deep probes drag
        // the estimate under rates that had passed.
        let shape: @Sendable (Double) -> Double = { r in r < 8 ? 1 : max(0, 1 - 0.004 * (r - 8) - 0.2 * max(0, r - 9) * max(0, r - 9)) }
        var checked = 0
        for seed in 1...12 {
            let r = ScriptedProbeRunner(attainment: shape, seed: UInt64(seed), burst: 5)
            let result = try await CapacitySearch(runner: r, slo: SLO(), settings: settings(budget: 10)).run()
            guard let q = result.maxQPS else { continue }
            let passes = result.probes.filter(\.passed).compactMap(\.offeredRate)
            guard let highest = passes.max() else { continue }
            let failedBelow = result.probes.contains { !$0.passed && $0.valid && ($0.offeredRate ?? 0) <= highest }
            if !failedBelow {
                XCTAssertGreaterThanOrEqual(q, highest - 1e-9, "seed \(seed): \(result.summaryText)")
                checked += 1
            }
            if let lo = result.ciLow, let hi = result.ciHigh { XCTAssertTrue((lo...hi).contains(q), "seed \(seed)") }
        }
        XCTAssertGreaterThan(checked, 3)
    }

    func testAnIntervalThatReachesALimitIsReportedAsNotDetermined() async throws {
        // Misses in runs of 40 and four probes: the scatter is barely known, the interval runs into 0.
        var undetermined = 0
        for seed in 1...10 {
            let r = ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: Self.midpoint, scale: Self.scale),
                                        seed: UInt64(seed), burst: 40)
            let result = try await CapacitySearch(runner: r, slo: SLO(), settings: settings(budget: 4)).run()
            guard let why = result.undetermined else { continue }
            undetermined += 1
            XCTAssertNil(result.maxQPS, "no number when the data cannot pin one down")
            let valid = result.probes.filter(\.valid)
            let pass = valid.filter(\.passed).map(\.rate).max()
            XCTAssertEqual(result.highestPass, pass)
            XCTAssertEqual(result.lowestFailure, result.probes.filter { !$0.passed && $0.rate > (pass ?? 0) }.map(\.rate).min())
            // The interval's bounded side stays; the side it runs out on is open, not the probes' bracket.
            if why.contains("reaches a rate of 0") {
                XCTAssertNil(result.ciLow, result.summaryText)
                let high = try XCTUnwrap(result.ciHigh, result.summaryText)
                XCTAssertGreaterThanOrEqual(high, truth, "seed \(seed): \(result.summaryText)")
                XCTAssertTrue(result.summaryText.contains(String(format: "at most %.3f req/s (95 %%)", high)), result.summaryText)
            }
            XCTAssertTrue(result.summaryText.contains("capacity not determined"), result.summaryText)
            XCTAssertTrue(result.summaryText.contains("single probes, not bounds"), result.summaryText)
            XCTAssertTrue(result.summaryText.contains(why), result.summaryText)
            let row = result.systemCapacity(system: "s", gpus: nil, usdPerHour: nil)
            XCTAssertTrue(row.intervalText.hasPrefix("not determined ("), row.intervalText)
        }
        XCTAssertGreaterThan(undetermined, 0, "four probes of bursty misses never pin the capacity down")
    }

    func testWithoutACurveOnlyVerdictsClearOfTheirNoiseBoundTheCapacity() async throws {
        // A cliff at 8.3 req/s and four probes: 2, 4 and 8 pass, 16 collapses; no curve fits.
        func search(attainmentBelowCliff: Double, measurementS: Double) async throws -> CapacityResult {
            let cliff = ScriptedProbeRunner(attainment: { $0 <= 8.3 ? attainmentBelowCliff : 0.3 }, measurementS: measurementS)
            return try await CapacitySearch(runner: cliff, slo: SLO(), settings: settings(budget: 4)).run()
        }
        // Passes of about 160 requests without a miss clear a P99 level by less than their own noise:
        // they bound nothing, however many there are.
        let short = try await search(attainmentBelowCliff: 1, measurementS: 60)
        XCTAssertEqual(short.probes.map(\.rate), [2, 4, 8, 16])
        XCTAssertEqual(short.undetermined, "the attainment curve could not be fitted inside the probed range")
        XCTAssertEqual(short.intervalMethod, .settledRange)
        XCTAssertEqual(short.highestPass, 8)
        XCTAssertEqual(short.lowestFailure, 16)
        XCTAssertNil(short.ciLow, short.summaryText)
        XCTAssertEqual(try XCTUnwrap(short.ciHigh), 16, accuracy: 0.01, "a collapsed probe bounds the capacity from above")
        XCTAssertTrue(short.summaryText.contains("capacity not determined: at most 16.0"), short.summaryText)
        XCTAssertTrue(short.summaryText.contains("highest pass 8.000, lowest failure above it 16.000 req/s"), short.summaryText)
        // Passes of about 1,000 requests without a miss clear it by more: they bound it from below.
        let long = try await search(attainmentBelowCliff: 1, measurementS: 400)
        XCTAssertNotNil(long.undetermined)
        XCTAssertEqual(try XCTUnwrap(long.ciLow), 8, accuracy: 0.01)
        XCTAssertEqual(try XCTUnwrap(long.ciHigh), 16, accuracy: 0.01)
        XCTAssertEqual(long.systemCapacity(system: "s", gpus: nil, usdPerHour: nil).intervalText, "not determined (8.00 .. 16.00)")
    }

    /// Caps requests in flight, so that a send shortfall is the server's backlog, not the client's.
    struct CappedRunner: ProbeRunner {
        let inner: ScriptedProbeRunner
        func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
            var m = inner.measure(request)
            m.maxInFlight = 64
            return m
        }
    }

    func testInvalidProbesNeverPass() async throws {
        // Every request meets its deadlines, but above 5 req/s the capped client sends only 70 % of the load.
        let r = CappedRunner(inner: ScriptedProbeRunner(attainment: { _ in 1 }, sendRateFactor: { $0 > 5 ? 0.7 : 1 }))
        for strategy in SearchStrategy.allCases {
            let result = try await CapacitySearch(runner: r, slo: SLO(), settings: settings(strategy)).run()
            for p in result.probes where p.rate > 5 {
                XCTAssertFalse(p.valid)
                XCTAssertFalse(p.passed, "\(strategy): invalid probe at \(p.rate) passed")
            }
            XCTAssertLessThanOrEqual(try XCTUnwrap(result.maxQPS), 5, "\(strategy)")
        }
    }

    func testErrorsFailTheSLO() async throws {
        let r = ScriptedProbeRunner(attainment: { _ in 1 }, errorRate: { $0 > 6 ? 0.05 : 0 })
        let result = try await CapacitySearch(runner: r, slo: SLO(), settings: settings()).run()
        XCTAssertLessThanOrEqual(try XCTUnwrap(result.maxQPS), 6)
        let failing = result.probes.filter { $0.rate > 6 }
        XCTAssertFalse(failing.isEmpty)
        for p in failing {
            XCTAssertFalse(p.passed)
            XCTAssertTrue(p.reasons.contains { $0.contains("error rate") }, "\(p.reasons)")
        }
    }

    func testOnlyTheProbesBeforeTheFirstBracketAreBracketing() async throws {
        let result = try await CapacitySearch(runner: runner(seed: 1), slo: SLO(), settings: settings()).run()
        let bracketing = result.probes.prefix { $0.bracketing == true }
        XCTAssertEqual(bracketing.map(\.rate), [2, 4, 8, 16], "grown from the start rate to the first failure")
        XCTAssertTrue(result.probes.dropFirst(bracketing.count).allSatisfy { $0.bracketing == nil })
        XCTAssertEqual(try result.probes.element(at: 3).request.directoryName, "rate-16.000-bracketing")
    }

    func testBisectionHasNoBracketingProbes() async throws {
        let result = try await CapacitySearch(runner: runner(seed: 1), slo: SLO(), settings: settings(.bisect)).run()
        XCTAssertTrue(result.probes.allSatisfy { $0.bracketing == nil })
    }

    func testBudgetIsRespected() async throws {
        var s = settings(.fitted, budget: 4)
        s.relativeCIWidth = 0.001
        let result = try await CapacitySearch(runner: runner(seed: 1), slo: SLO(), settings: s).run()
        XCTAssertEqual(result.probes.count, 4)
        XCTAssertEqual(result.stopReason, .budgetSpent)
        // Bisection is bounded by its iterations, as the reference's is.
        s.strategy = .bisect
        s.bisectMaxIterations = 3
        let bisect = try await CapacitySearch(runner: runner(seed: 1), slo: SLO(), settings: s).run()
        XCTAssertEqual(bisect.probes.count, 3)
        XCTAssertEqual(bisect.stopReason, .bisectMaxIterations)
    }

    func testStopsAtTheMaximumRateWhenEverythingPasses() async throws {
        var s = settings()
        s.maxRate = 16
        let result = try await CapacitySearch(runner: ScriptedProbeRunner(attainment: { _ in 1 }), slo: SLO(), settings: s).run()
        XCTAssertEqual(result.stopReason, .aboveMaxRate)
        XCTAssertEqual(result.probes.map(\.rate), [2, 4, 8, 16])
        XCTAssertTrue(result.warnings.contains { $0.contains("up to the maximum rate, 16.000 req/s") }, "\(result.warnings)")
        // Bracketing probes of about 320 requests without a miss do not clear a P99 level by more than
        // their noise, and nothing failed: no bound either side.
        XCTAssertNil(result.ciLow)
        XCTAssertNil(result.ciHigh)
        XCTAssertTrue(result.summaryText.contains("capacity not determined: no bound on either side"), result.summaryText)
    }

    func testSimulatedResultsSaySoLoudly() async throws {
        let sim = ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: 10, scale: 0.4), simulated: true)
        let result = try await CapacitySearch(runner: sim, slo: SLO(), settings: settings()).run()
        XCTAssertTrue(result.simulated)
        XCTAssertTrue(result.summaryText.hasPrefix("SIMULATED"))
        XCTAssertTrue(result.warnings.contains { $0.hasPrefix("SIMULATED") })
    }

    func testStopsAtTheMinimumRateWhenNothingPasses() async throws {
        var s = settings()
        s.minRate = 0.5
        let never = ScriptedProbeRunner(attainment: { _ in 0 }, measurementS: 400)
        let result = try await CapacitySearch(runner: never, slo: SLO(), settings: s).run()
        XCTAssertEqual(result.stopReason, .belowMinRate)
        XCTAssertNil(result.maxQPS)
        XCTAssertEqual(result.probes.map(\.rate), [2, 1, 0.5])
    }

    func testRepeatedSearchIsDeterministic() async throws {
        let a = try await CapacitySearch(runner: runner(seed: 9), slo: SLO(), settings: settings()).run()
        let b = try await CapacitySearch(runner: runner(seed: 9), slo: SLO(), settings: settings()).run()
        XCTAssertEqual(a, b)
    }

    struct DownRunner: ProbeRunner {
        let inner: ScriptedProbeRunner
        let downFrom: Double
        func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
            if request.rate >= downFrom { throw URLError(.cannotConnectToHost) }
            return inner.measure(request)
        }
    }

    func testServerDownStopsTheSearchAndKeepsCompletedProbes() async throws {
        let search = CapacitySearch(runner: DownRunner(inner: runner(seed: 1), downFrom: 8), slo: SLO(), settings: settings())
        do {
            _ = try await search.run()
            XCTFail("expected the search to stop")
        } catch let error as SearchError {
            XCTAssertEqual(error.request.rate, 8)
            XCTAssertEqual(error.completed.map(\.rate), [2, 4])
            XCTAssertTrue(error.description.contains("8.000 req/s could not be run"), error.description)
        }
    }

    /// Delays every send by 50 ms (a client that cannot keep its schedule) on the attempts listed.
    struct LaggingRunner: ProbeRunner {
        let inner: ScriptedProbeRunner
        let lagging: @Sendable (ProbeRequest) -> Bool
        func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
            var m = inner.measure(request)
            if lagging(request) { m.records = m.records.map { var r = $0; r.sentS = r.scheduledS + 0.05; return r } }
            return m
        }
    }

    func testALaggingClientIsMeasuredAgainNotTakenForAFullServer() async throws {
        // The first measurement at 4 req/s lags; its retry, on the same plan, does not.
        let flaky = LaggingRunner(inner: runner(seed: 1)) { $0.rate == 4 && $0.retry == 0 }
        let result = try await CapacitySearch(runner: flaky, slo: SLO(), settings: settings()).run()
        let steady = try await CapacitySearch(runner: runner(seed: 1), slo: SLO(), settings: settings()).run()
        XCTAssertEqual(result.maxQPS, steady.maxQPS, "the lagging probe takes no part in the estimate")
        let lagged = result.probes.filter { $0.rate == 4 && $0.attempt == 0 && $0.retry == nil }
        let probe = try XCTUnwrap(lagged.first)
        XCTAssertEqual(lagged.count, 1)
        let retried = try XCTUnwrap(result.probes.first { $0.rate == 4 && $0.retry == 1 })
        XCTAssertEqual(retried.attempt, 0, "a retry is the same attempt, on the same plan")
        XCTAssertEqual(retried.requests, probe.requests)
        XCTAssertTrue(retried.directory.hasPrefix("rate-4.000-retry-1"), retried.directory)
        XCTAssertFalse(probe.valid)
        XCTAssertTrue(probe.reasons.contains { $0.contains("client not trustworthy") }, "\(probe.reasons)")
        XCTAssertTrue(result.warnings.contains { $0.contains("measured again because the client fell behind") })

        // A client that never keeps up stops the search, saying why.
        let hopeless = LaggingRunner(inner: runner(seed: 1)) { $0.rate >= 4 }
        do {
            _ = try await CapacitySearch(runner: hopeless, slo: SLO(), settings: settings()).run()
            XCTFail("expected the search to stop")
        } catch let error as SearchError {
            XCTAssertTrue(error.description.contains("the client fell behind its schedule in 3 attempts"), error.description)
            XCTAssertEqual(error.completed.map(\.rate), [2])
        }
    }

    /// Fails a third of the requests in the client (no socket) on the attempts listed.
    struct FaultingRunner: ProbeRunner {
        let inner: ScriptedProbeRunner
        let faulting: @Sendable (ProbeRequest) -> Bool
        func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
            var m = inner.measure(request)
            if faulting(request) {
                for i in m.records.indices where i % 3 == 0 {
                    m.records[i].status = .clientError
                    m.records[i].error = "could not open a socket (EMFILE: Too many open files)"
                    m.records[i].chunkTimesS = []
                    m.records[i].chunkTokens = []
                }
            }
            return m
        }
    }

    func testClientFaultsMakeAProbeInvalidAndAreMeasuredAgain() async throws {
        let flaky = FaultingRunner(inner: runner(seed: 1)) { $0.rate == 4 && $0.retry == 0 }
        let result = try await CapacitySearch(runner: flaky, slo: SLO(), settings: settings()).run()
        let steady = try await CapacitySearch(runner: runner(seed: 1), slo: SLO(), settings: settings()).run()
        XCTAssertEqual(result.maxQPS, steady.maxQPS, "the faulted probe takes no part in the estimate")
        let faulted = try XCTUnwrap(result.probes.first { $0.rate == 4 && $0.retry == nil })
        XCTAssertFalse(faulted.valid)
        let reason = try XCTUnwrap(faulted.reasons.first { $0.hasPrefix("client fault: ") }, "\(faulted.reasons)")
        XCTAssertTrue(reason.hasSuffix(" requests could not open a socket (EMFILE: Too many open files)"), reason)
        let count = try XCTUnwrap(faulted.errors["client_error"])
        XCTAssertTrue(reason.hasPrefix("client fault: \(count) of \(faulted.requests) requests"), reason)
        XCTAssertFalse(faulted.reasons.contains { $0.contains("P99 lag") }, "the timing itself was fine: \(faulted.reasons)")
        XCTAssertTrue(result.warnings.contains { $0.contains("the client failed requests itself") }, "\(result.warnings)")

        // Faults at every attempt stop the search, naming the fault.
        let hopeless = FaultingRunner(inner: runner(seed: 1)) { $0.rate >= 4 }
        do {
            _ = try await CapacitySearch(runner: hopeless, slo: SLO(), settings: settings()).run()
            XCTFail("expected the search to stop")
        } catch let error as SearchError {
            XCTAssertTrue(error.description.contains("the client failed requests itself in 3 attempts"), error.description)
            XCTAssertTrue(error.description.contains("EMFILE"), error.description)
        }
    }

    struct RefusingRunner: ProbeRunner {
        let inner: ScriptedProbeRunner
        let downFrom: Double
        func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
            var m = inner.measure(request)
            if request.rate >= downFrom {
                m.records = m.records.map {
                    RequestRecord(id: $0.id, scheduledS: $0.scheduledS, status: .connectionError, error: "connection refused")
                }
            }
            return m
        }
    }

    func testUnreachableServerStopsTheSearchAndIsNotCached() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metron-down-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = ProbeCache(directory: dir, identity: ProbeIdentity(settings: [:]))
        let runner = CachingProbeRunner(inner: RefusingRunner(inner: runner(seed: 1), downFrom: 8), cache: cache, deadlines: .referenceDefault)
        do {
            _ = try await CapacitySearch(runner: runner, slo: SLO(), settings: settings()).run()
            XCTFail("expected the search to stop")
        } catch let error as SearchError {
            XCTAssertEqual(error.completed.map(\.rate), [2, 4])
            XCTAssertTrue(error.description.contains("the server is unreachable: all 160 requests failed to connect: connection refused"),
                          error.description)
        }
        XCTAssertNotNil(cache.load(ProbeRequest(rate: 4, bracketing: true)).measurement)
        XCTAssertEqual(cache.load(ProbeRequest(rate: 8, bracketing: true)), .absent, "a probe of a server that was down is measured again next time")
    }

    func testCapacityJSONHasTheContractKeys() async throws {
        let result = try await CapacitySearch(runner: runner(seed: 2), slo: SLO(), settings: settings()).run()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metron-capacity-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try result.write(to: dir)
        let object = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("capacity.json"))) as? [String: Any])
        for key in ["max_qps", "ci_low", "ci_high", "slo", "strategy", "probes", "output_tokens_per_s", "interval_method"] {
            XCTAssertNotNil(object[key], key)
        }
        let probe = try XCTUnwrap((object["probes"] as? [[String: Any]])?.first)
        for key in ["rate", "achieved_rate", "requests", "p99_fluidity", "error_rate", "valid", "passed", "reasons"] {
            XCTAssertNotNil(probe[key], key)
        }
        XCTAssertEqual(try CapacityResult.read(from: dir), result)
    }
}

final class StrategyComparisonTests: XCTestCase {
    /// The fitted search against the reference bisection over 20 seeds: probe time (seconds of load in
    /// the probes' windows) and error. The benchmark's target (half bisection's time) is measured in
    /// docs/SEARCH.md; this guards the direction.
    func testFittedNeedsLessProbeTimeThanBisectAtComparableError() async throws {
        let truth = ScriptedProbeRunner.capacity(midpoint: 10, scale: 0.4, level: 0.99)
        var fittedTime = 0.0, bisectTime = 0.0, fittedProbes = 0, bisectProbes = 0
        var fittedError = 0.0, bisectError = 0.0
        let time = { (r: CapacityResult) in r.probes.reduce(0) { $0 + Double($1.requests) / $1.rate } }
        for seed in 1...20 {
            let runner = ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: 10, scale: 0.4), seed: UInt64(seed))
            var settings = SearchSettings()
            settings.startRate = 2
            settings.probeBudget = 40
            let fitted = try await CapacitySearch(runner: runner, slo: SLO(), settings: settings).run()
            settings.strategy = .bisect
            let bisect = try await CapacitySearch(runner: runner, slo: SLO(), settings: settings).run()
            fittedTime += time(fitted)
            bisectTime += time(bisect)
            fittedProbes += fitted.probes.count
            bisectProbes += bisect.probes.count
            fittedError += abs(try XCTUnwrap(fitted.maxQPS) - truth) / truth
            bisectError += abs(try XCTUnwrap(bisect.maxQPS) - truth) / truth
        }
        print("fitted: \(fittedProbes) probes, \(fittedTime) s, mean relative error \(fittedError / 20); "
              + "bisect: \(bisectProbes) probes, \(bisectTime) s, mean relative error \(bisectError / 20)")
        XCTAssertLessThan(fittedTime, bisectTime)
        XCTAssertLessThanOrEqual(fittedError, bisectError * 1.25)
    }
}
