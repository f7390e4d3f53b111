import MetronModel
import MetronSearch
import MetronSweep
import MetronStats
import MetronTestSupport
import XCTest

final class ProbeResultTests: XCTestCase {
    let slo = SLO()
    let rules = ValidityRules()

    func result(_ runner: ScriptedProbeRunner, rate: Double) -> ProbeResult {
        ProbeResult(runner.measure(ProbeRequest(rate: rate)), slo: slo, rules: rules)
    }

    func testHealthyProbeBelowCapacityPasses() {
        let r = result(ScriptedProbeRunner(attainment: { _ in 1 }), rate: 5)
        XCTAssertTrue(r.valid, "\(r.invalidReasons)")
        XCTAssertTrue(r.passed)
        XCTAssertEqual(r.requests, 300)
        XCTAssertEqual(r.percentileFluidity, 1)
        XCTAssertEqual(r.slo.attainment, 1)
        XCTAssertEqual(r.achievedRate ?? 0, 5, accuracy: 1e-9)
        XCTAssertTrue(r.reasons.isEmpty)
    }

    func testMissedDeadlinesFailWithTheMeasuredPercentile() {
        let r = result(ScriptedProbeRunner(attainment: { _ in 0.9 }), rate: 5)
        XCTAssertTrue(r.valid)
        XCTAssertFalse(r.passed)
        XCTAssertLessThan(r.percentileFluidity ?? 1, 0.9)
        XCTAssertTrue(r.slo.reasons.contains { $0.contains("P99 fluidity-index") }, "\(r.reasons)")
        // 10 % of requests missing maps to an attainment well below the 0.99 level.
        XCTAssertEqual(r.slo.attainment, 0.9, accuracy: 0.05)
    }

    func testPercentileFluidityMatchesRunSummary() {
        let m = ScriptedProbeRunner(attainment: { _ in 0.97 }).measure(ProbeRequest(rate: 8))
        let summary = RunSummary(records: m.records, targetRate: 8, deadlines: slo.deadlines)
        XCTAssertEqual(ProbeResult(m, slo: slo, rules: rules).percentileFluidity, summary.fluidity.p1)
    }

    func testMissesAreGroupedIntoEpisodes() {
        XCTAssertEqual(SLO.episodes([(5, 1), (0, 1), (0.5, 2), (5.2, 1), (20, 1)], gapS: 1), [3, 2, 1])
        XCTAssertEqual(SLO.episodes([], gapS: 1), [])
        // Episodes are in requests' worth of attainment: they add up to what the probe missed, for a
        // request-level condition and for a token-level one alike.
        let ttftTBT = SLO(name: "t", kind: .ttftTBT(ttft: LatencyLimit(percentile: 90, limitS: 1), tbt: LatencyLimit(percentile: 90, limitS: 0.05)),
                          deadlines: slo.deadlines)
        for (s, burst) in [(slo, 1), (slo, 5), (ttftTBT, 5)] {
            let m = ScriptedProbeRunner(attainment: { _ in 0.95 }, burst: burst).measure(ProbeRequest(rate: 5))
            let e = s.evaluate(m.windowRecords)
            XCTAssertEqual(e.missEpisodes.reduce(0, +), (1 - e.attainment) * Double(e.trials), accuracy: 1e-6, "\(s.name) burst \(burst)")
            XCTAssertGreaterThan(e.missEpisodes.count, 1)
            if s.name == slo.name, burst == 5 { XCTAssertTrue(e.missEpisodes.allSatisfy { $0 >= 5 }, "\(e.missEpisodes)") }
        }
    }

    func testLowAchievedRateIsInvalidAndNeverPasses() {
        let r = result(ScriptedProbeRunner(attainment: { _ in 1 }, sendRateFactor: { _ in 0.7 }), rate: 5)
        XCTAssertFalse(r.valid)
        XCTAssertFalse(r.passed)
        XCTAssertLessThan(r.attainmentPoint.attainment, slo.attainmentLevel, "an invalid probe counts as over capacity in the fit")
        XCTAssertTrue(r.invalidReasons.contains { $0.contains("achieved rate") }, "\(r.invalidReasons)")
    }

    func testSendingFidelityIsJudgedTightlyAgainstThePlan() {
        // A client 3 % short of its plan's rate was accepted under the old 5 % + 3 / sqrt(n) allowance.
        let short = result(ScriptedProbeRunner(attainment: { _ in 1 }, sendRateFactor: { _ in 0.97 }), rate: 5)
        XCTAssertFalse(short.valid)
        let reason = short.invalidReasons.first { $0.contains("achieved rate") } ?? ""
        XCTAssertTrue(reason.contains("off the plan's 5.000 (allowed 1.0 %)"), "\(short.invalidReasons)")
        // Sends a constant 2 ms behind the plan keep its rate exactly.
        var m = ScriptedProbeRunner(attainment: { _ in 1 }).measure(ProbeRequest(rate: 5))
        m.records = m.records.map { var r = $0; r.sentS = r.scheduledS + 0.002; return r }
        let faithful = ProbeResult(m, slo: slo, rules: rules)
        XCTAssertTrue(faithful.valid, "\(faithful.invalidReasons)")
    }

    func testUnsentRequestsAreASendingFault() {
        var m = ScriptedProbeRunner(attainment: { _ in 1 }).measure(ProbeRequest(rate: 5))
        for i in m.records.indices where i % 20 == 0 { m.records[i].sentS = nil }
        let r = ProbeResult(m, slo: slo, rules: ValidityRules())
        XCTAssertFalse(r.valid)
        XCTAssertTrue(r.invalidReasons.contains { $0.hasPrefix("only \(r.requests - (r.requests + 19) / 20) of the \(r.requests) planned requests were sent") },
                      "\(r.invalidReasons)")
    }

    func testTheFitUsesTheLoadEachProbeOffered() {
        // 300 requests scheduled in a 60 s window asked for at 4 req/s: the window offered 5 req/s.
        var m = ScriptedProbeRunner(attainment: { _ in 1 }, measurementS: 60).measure(ProbeRequest(rate: 5))
        m.request = ProbeRequest(rate: 4)
        let r = ProbeResult(m, slo: slo, rules: ValidityRules())
        XCTAssertEqual(r.rate, 4)
        XCTAssertEqual(r.offeredRate ?? 0, Double(r.requests) / 60, accuracy: 1e-9)
        XCTAssertEqual(r.attainmentPoint.rate, Double(r.requests) / 60, accuracy: 1e-9, "the curve sees the offered load")
    }

    func testRisingTTFTIsRunawayBacklog() {
        let r = result(ScriptedProbeRunner(attainment: { _ in 1 }, ttftGrowth: { _ in 0.05 }), rate: 5)
        XCTAssertFalse(r.valid)
        XCTAssertEqual(r.attainmentPoint.attainment, min(r.slo.attainment, slo.attainmentLevel - 1 / Double(r.requests)),
                       accuracy: 1e-12, "an invalid probe fits one request short of the level at best")
        XCTAssertEqual(r.ttftRiseS ?? 0, 3, accuracy: 0.01)
        XCTAssertTrue(r.invalidReasons.contains { $0.contains("runaway backlog: TTFT rose") }, "\(r.invalidReasons)")
    }

    func testTTFTsScatteringOverAShortWindowAreNotBacklog() {
        // 100 requests in 8 s, TTFTs scattered over 0.1 to 1.1 s with no trend: a line through them
        // tilts by chance, by more than the 0.25 s floor in some seeds; only a rise that clears the limit
        // by two standard errors counts. The same scatter on a real rise of 0.3 s per second still does.
        func probe(seed: UInt64, rise: Double) -> ProbeResult {
            var m = ScriptedProbeRunner(attainment: { _ in 1 }, measurementS: 8, minRequests: 1).measure(ProbeRequest(rate: 12.5))
            let rng = RandomSource(seed: seed)
            m.records = m.records.map { r in
                var r = r
                let shift = rng.uniform() + rise * r.scheduledS
                r.chunkTimesS = r.chunkTimesS.map { $0 + shift }
                return r
            }
            return ProbeResult(m, slo: slo, rules: rules)
        }
        for seed in 1...30 {
            let flat = probe(seed: UInt64(seed), rise: 0)
            XCTAssertFalse(flat.invalidReasons.contains { $0.contains("runaway backlog") }, "seed \(seed): \(flat.invalidReasons)")
        }
        XCTAssertTrue(probe(seed: 1, rise: 0.3).invalidReasons.contains { $0.contains("runaway backlog: TTFT rose") })
    }

    func testSmallTTFTDriftIsNotBacklog() {
        let r = result(ScriptedProbeRunner(attainment: { _ in 1 }, ttftGrowth: { _ in 0.001 }), rate: 5)
        XCTAssertTrue(r.valid, "\(r.invalidReasons)")
    }

    func testOutstandingRequestsAreRunawayBacklog() {
        var m = ScriptedProbeRunner(attainment: { _ in 1 }).measure(ProbeRequest(rate: 5))
        for i in m.records.indices.suffix(10) {
            m.records[i].status = .cancelled
            m.records[i].chunkTimesS = []
            m.records[i].chunkTokens = []
        }
        let r = ProbeResult(m, slo: slo, rules: rules)
        XCTAssertEqual(r.outstanding, 10)
        XCTAssertEqual(r.outstandingAtWindowEnd, 10)
        XCTAssertFalse(r.valid)
        XCTAssertTrue(r.invalidReasons.contains { $0.contains("still outstanding") }, "\(r.invalidReasons)")
    }

    func testTooFewRequestsAreInvalid() {
        let r = result(ScriptedProbeRunner(attainment: { _ in 1 }, measurementS: 10, minRequests: 1), rate: 5)
        XCTAssertEqual(r.requests, 50)
        XCTAssertFalse(r.valid)
        XCTAssertTrue(r.invalidReasons.contains { $0.contains("only 50 requests") })
    }

    func testClientLagMakesTheProbeInvalid() {
        var m = ScriptedProbeRunner(attainment: { _ in 1 }).measure(ProbeRequest(rate: 5))
        for i in m.records.indices { m.records[i].sentS = m.records[i].scheduledS + 0.05 }
        let r = ProbeResult(m, slo: slo, rules: rules)
        XCTAssertFalse(r.client.trustworthy)
        XCTAssertFalse(r.valid)
        XCTAssertTrue(r.invalidReasons.contains { $0.contains("client not trustworthy") }, "\(r.invalidReasons)")
    }

    func testErrorsAboveTheLimitFailTheSLO() {
        let r = result(ScriptedProbeRunner(attainment: { _ in 1 }, errorRate: { _ in 0.05 }), rate: 5)
        XCTAssertTrue(r.valid)
        XCTAssertFalse(r.passed)
        XCTAssertEqual(r.errors["http_error"], Int((r.errorRate * 300).rounded()))
        XCTAssertTrue(r.slo.reasons.contains { $0.contains("error rate") }, "\(r.reasons)")
        XCTAssertLessThan(r.slo.attainment, slo.attainmentLevel)
    }

    func testErrorsUnderALooseLimitStillCountAsZeroFluidity() {
        let loose = SLO(maxErrorRate: 0.5)
        let m = ScriptedProbeRunner(attainment: { _ in 1 }, errorRate: { _ in 0.05 }).measure(ProbeRequest(rate: 5))
        let r = ProbeResult(m, slo: loose, rules: rules)
        XCTAssertEqual(r.fluidity.first, 0)
        XCTAssertFalse(r.passed, "failed requests count as fluidity 0, so P99 fluidity fails")
    }

    func testTTFTAndTBTPercentiles() {
        let m = ScriptedProbeRunner(attainment: { _ in 1 }).measure(ProbeRequest(rate: 5))
        let ok = SLO(kind: .ttftTBT(ttft: LatencyLimit(percentile: 99, limitS: 0.2), tbt: LatencyLimit(percentile: 99, limitS: 0.05)))
        XCTAssertTrue(ProbeResult(m, slo: ok, rules: rules).passed)
        let tight = SLO(kind: .ttftTBT(ttft: LatencyLimit(percentile: 99, limitS: 0.2), tbt: LatencyLimit(percentile: 90, limitS: 0.01)))
        let r = ProbeResult(m, slo: tight, rules: rules)
        XCTAssertFalse(r.passed)
        XCTAssertTrue(r.slo.reasons.contains { $0.hasPrefix("TBT P90 20.0 ms") }, "\(r.reasons)")
        // No token meets 10 ms: the worst condition maps to the lowest attainment its quantile allows.
        XCTAssertEqual(r.slo.attainment, 1 - 0.01 / 0.1, accuracy: 1e-9)
        XCTAssertLessThan(r.slo.attainment, tight.attainmentLevel)
    }

    func testTTFTAndTPOTPercentiles() {
        let m = ScriptedProbeRunner(attainment: { _ in 1 }).measure(ProbeRequest(rate: 5))
        let ok = SLO(kind: .ttftTPOT(ttft: LatencyLimit(percentile: 95, limitS: 0.2), tpot: LatencyLimit(percentile: 95, limitS: 0.03)))
        XCTAssertTrue(ProbeResult(m, slo: ok, rules: rules).passed)
        let slowTTFT = SLO(kind: .ttftTPOT(ttft: LatencyLimit(percentile: 95, limitS: 0.05), tpot: LatencyLimit(percentile: 95, limitS: 0.03)))
        let r = ProbeResult(m, slo: slowTTFT, rules: rules)
        XCTAssertFalse(r.passed)
        XCTAssertTrue(r.slo.reasons.contains { $0.hasPrefix("TTFT P95 100.0 ms is above 50.0 ms") }, "\(r.reasons)")
    }

    func testNoRequestsFails() {
        let m = ProbeMeasurement(request: ProbeRequest(rate: 1), records: [], windowStartS: 0, windowEndS: 60)
        let r = ProbeResult(m, slo: slo, rules: rules)
        XCTAssertFalse(r.passed)
        XCTAssertTrue(r.reasons.contains("no requests were measured"))
    }

    func testDirectoryNamesCarryRateAndAttempt() {
        XCTAssertEqual(ProbeRequest(rate: 4).directoryName, "rate-4.000")
        XCTAssertEqual(ProbeRequest(rate: 3.14159, attempt: 2).directoryName, "rate-3.142-attempt-2")
    }
}

final class WarmUpTests: XCTestCase {
    func testWarmUpRequestsAreLeftOutOfTheVerdict() {
        let m = ScriptedProbeRunner(attainment: { _ in 1 }).measure(ProbeRequest(rate: 5))
        // Shift the window 10 s later and add a failing warm-up burst before it.
        var shifted = m
        shifted.records = m.records.map { r in
            var r = r
            r.scheduledS += 10
            r.sentS = r.sentS.map { $0 + 10 }
            r.chunkTimesS = r.chunkTimesS.map { $0 + 10 }
            return r
        }
        shifted.records += (0..<50).map { RequestRecord(id: 1000 + $0, scheduledS: Double($0) / 5, sentS: Double($0) / 5, status: .timeout) }
        shifted.windowStartS = 10
        shifted.windowEndS = m.windowEndS + 10
        let r = ProbeResult(shifted, slo: SLO(), rules: ValidityRules())
        XCTAssertEqual(r.requests, m.records.count)
        XCTAssertEqual(r.errorRate, 0)
        XCTAssertTrue(r.passed, "\(r.reasons)")
    }
}

final class ProbeHelpersTests: XCTestCase {
    func testWindowsAreSizedInRequestsForTheSLOsPercentile() throws {
        XCTAssertEqual(ProbeWindow.requests(forLevel: 0.99), 1000, "ten requests beyond a P99")
        XCTAssertEqual(ProbeWindow.requests(forLevel: 0.9), 100)
        XCTAssertEqual(ProbeWindow.requests(forLevel: 0.999), 10_000)
        XCTAssertEqual(ProbeWindow.requests(forLevel: 0.5), 100, "never under 100")
        let p99 = ProbeWindow().resolved(forLevel: 0.99)
        XCTAssertEqual(p99.requests, 1000)
        XCTAssertEqual(p99.bracketRequests, 250, "a quarter when bracketing")
        // Converted to time by the rate: 1000 requests take 100 s at 10 req/s, 2000 s at 0.5 req/s.
        XCTAssertEqual(p99.measurementS(rate: 10, minRequests: 100), 100)
        XCTAssertEqual(p99.measurementS(rate: 0.5, minRequests: 100), 2000)
        XCTAssertEqual(p99.measurementS(rate: 10, minRequests: 100, bracketing: true), 25)
        var given = ProbeWindow()
        given.requests = 400
        given.durationS = 60
        XCTAssertEqual(given.resolved(forLevel: 0.99).requests, 400, "a size the user set stays")
        XCTAssertEqual(given.measurementS(rate: 20, minRequests: 100), 60, "duration_s is a floor near capacity")
        XCTAssertEqual(given.measurementS(rate: 20, minRequests: 100, bracketing: true), 7, "...not when bracketing")
    }

    func testWindowStretchesToTheMinimumRequestCount() throws {
        var w = ProbeWindow()
        w.requests = 100
        w.bracketRequests = 10
        // 100 + 4 sqrt(100) expected arrivals.
        XCTAssertEqual(w.measurementS(rate: 0.5, minRequests: 100), 280)
        XCTAssertEqual(w.measurementS(rate: 4, minRequests: 100, bracketing: true), 35)
        // Poisson arrivals fill a stretched window with at least the minimum count (almost) always.
        var short = 0
        for seed in 0..<200 {
            let plan = try WorkloadSpec(seed: UInt64(seed)).plan(rate: 0.5, duration: w.measurementS(rate: 0.5, minRequests: 100))
            if plan.count < 100 { short += 1 }
        }
        XCTAssertLessThanOrEqual(short, 1)
    }

    func testTooSmallProbesForThePercentileAreWarnedWithTheNumbers() throws {
        XCTAssertNil(ProbeWindow.tailWarning(requests: 1000, level: 0.99, what: "probe.requests"))
        let warning = try XCTUnwrap(ProbeWindow.tailWarning(requests: 200, level: 0.99, what: "probe.requests"))
        XCTAssertTrue(warning.contains("probe.requests 200 holds about 2.0 requests beyond the P99"), warning)
        XCTAssertTrue(warning.contains("1000 are needed"), warning)
        var window = ProbeWindow()
        window.requests = 200
        let plan = SearchPlan(settings: SearchSettings(), window: window.resolved(forLevel: 0.99), minRequests: 100, level: 0.99)
        XCTAssertTrue(plan.lines.contains { $0.hasPrefix("warning: probe.requests 200") }, "\(plan.lines)")
    }

    func testThePlannedDurationIsSaidUpFrontWithCheaperAlternatives() {
        var settings = SearchSettings()
        settings.startRate = 1
        let plan = SearchPlan(settings: settings, window: ProbeWindow().resolved(forLevel: 0.99), minRequests: 100, level: 0.99)
        // 12 probes of 10 s + 1000 s at 1 req/s.
        XCTAssertEqual(plan.totalS(at: 1), 12 * 1010)
        let text = plan.lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("probes of 1000 requests near capacity (250 when bracketing)"), text)
        XCTAssertTrue(text.contains("one probe takes 17 min"), text)
        XCTAssertTrue(text.contains("about 3.4 h in all"), text)
        XCTAssertTrue(text.contains("a P90 SLO needs 100 requests a probe (about 30 min)"), text)
        XCTAssertTrue(text.contains("probe_budget 6 (a wider interval) about 1.7 h"), text)
        XCTAssertFalse(text.contains("warning"), text)
    }

    func testBracketingProbesHaveFewerRequests() throws {
        var window = ProbeWindow()
        window.warmupS = 10
        window = window.resolved(forLevel: 0.99)
        let planner = ProbePlanner(workload: WorkloadSpec(seed: 7), window: window, minRequests: 100)
        XCTAssertEqual(try planner.plan(ProbeRequest(rate: 20)).windowEndS, 60)
        XCTAssertEqual(try planner.plan(ProbeRequest(rate: 20, bracketing: true)).windowEndS, 22.5)
        XCTAssertEqual(ProbeRequest(rate: 4, bracketing: true).directoryName, "rate-4.000-bracketing")
        XCTAssertEqual(ProbeRequest(rate: 4, attempt: 1, bracketing: true).directoryName, "rate-4.000-attempt-1-bracketing")
        XCTAssertEqual(ProbeRequest(rate: 4, attempt: 1, retry: 2).directoryName, "rate-4.000-attempt-1-retry-2")
    }

    func testARetryReplaysTheSamePlan() throws {
        let planner = ProbePlanner(workload: WorkloadSpec(seed: 7), window: ProbeWindow(), minRequests: 100)
        let first = try planner.plan(ProbeRequest(rate: 4)).plan
        XCTAssertEqual(try planner.plan(ProbeRequest(rate: 4, retry: 1)).plan, first, "the same plan, so systems stay paired")
        XCTAssertNotEqual(try planner.plan(ProbeRequest(rate: 4, attempt: 1)).plan, first, "a new attempt is a new draw")
    }

    func testRepeatedProbesGetTheirOwnSeed() {
        let seeds = (0..<5).map { ProbeRequest(rate: 4, attempt: $0).seed(workloadSeed: 7) }
        XCTAssertEqual(Set(seeds).count, 5)
        XCTAssertEqual(ProbeRequest(rate: 4, attempt: 2).seed(workloadSeed: 7), seeds[2])
        XCTAssertNotEqual(ProbeRequest(rate: 4).seed(workloadSeed: 8), seeds[0])
    }

    func testOnePlanAtEveryRateWhenAsked() throws {
        var window = ProbeWindow()
        window.planPerRate = false
        let planner = ProbePlanner(workload: WorkloadSpec(seed: 7), window: window, minRequests: 100)
        let slow = try planner.plan(ProbeRequest(rate: 4)).plan, fast = try planner.plan(ProbeRequest(rate: 8)).plan
        for (a, b) in zip(slow, fast).prefix(50) { XCTAssertEqual(a.arrival * 4, b.arrival * 8, accuracy: 1e-9) }
        XCTAssertEqual(ProbeRequest(rate: 4).seed(workloadSeed: 7, perRate: false), 7)
        XCTAssertNotEqual(ProbeRequest(rate: 4, attempt: 1).seed(workloadSeed: 7, perRate: false), 7, "a repeat gets its own")
    }

    func testEveryRateGetsItsOwnPlan() throws {
        // With one seed for all rates, Poisson plans would be one pattern stretched by 1 / rate.
        let spec = WorkloadSpec(seed: 7)
        func plan(_ rate: Double) throws -> [Double] {
            var s = spec
            s.seed = ProbeRequest(rate: rate).seed(workloadSeed: spec.seed)
            return try s.plan(rate: rate, duration: 30).prefix(20).map { $0.arrival * rate }
        }
        XCTAssertEqual(try plan(4), try plan(4))
        let a = try plan(4), b = try plan(4.001)
        XCTAssertFalse(zip(a, b).allSatisfy { abs($0 - $1) < 1e-9 })
        XCTAssertNotEqual(ProbeRequest(rate: 4).seed(workloadSeed: 7), ProbeRequest(rate: 8).seed(workloadSeed: 7))
    }
}
