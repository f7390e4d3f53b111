import MetronModel
import MetronStats
import XCTest

final class RunSummaryTests: XCTestCase {
    func record(_ id: Int, at t: Double, lag: Double = 0.001, ttft: Double = 0.1, gap: Double = 0.02, tokens: Int = 10) -> RequestRecord {
        let chunks = (0..<tokens).map { t + ttft + Double($0) * gap }
        return RequestRecord(
            id: id, scheduledS: t, sentS: t + lag, chunkTimesS: chunks, chunkTokens: Array(repeating: 1, count: tokens),
            requestedPromptTokens: 100, requestedOutputTokens: tokens, promptTokens: 100, outputTokens: tokens)
    }

    /// The pooled token-level TBT and inter-chunk gaps, read in two passes, are the percentiles of
    /// the whole pooled sample: with multi-token chunks, chunks without tokens, and failures.
    func testPooledGapPercentilesAreThoseOfTheWholeSample() throws {
        let rng = RandomSource(seed: 3)
        var records: [RequestRecord] = []
        var tbt: [Double] = [], gaps: [Double] = []
        for id in 0..<400 {
            let n = rng.integer(in: 1...60), start = Double(id) * 0.05
            var t = start + 0.2, times: [Double] = [], tokens: [Int] = []
            for _ in 0..<n {
                times.append(t)
                tokens.append(id % 3 == 0 && rng.uniform() < 0.1 ? 0 : rng.integer(in: 1...3))
                t += (rng.uniform() < 0.2 ? 0.025 : rng.exponential(rate: 40))
            }
            let failed = id % 11 == 0
            records.append(RequestRecord(
                id: id, scheduledS: start, sentS: start + 1e-4, chunkTimesS: times, chunkTokens: tokens,
                requestedPromptTokens: 10, requestedOutputTokens: tokens.reduce(0, +), promptTokens: 10,
                outputTokens: tokens.reduce(0, +), status: failed ? .streamError : .ok))
            if !failed {
                tbt += records[id].timeline.interTokenTimes.dropFirst()
                gaps += zip(times.dropFirst(), times).map { $0 - $1 }
            }
        }
        let s = RunSummary(records: records, targetRate: nil, deadlines: .referenceDefault)
        for (got, sample) in [(s.tbt, tbt), (s.interChunkLatency, gaps)] {
            XCTAssertEqual(got.count, sample.count)
            XCTAssertEqual(got.p50, Stats.quantile(sample, 0.5))
            XCTAssertEqual(got.p90, Stats.quantile(sample, 0.9))
            XCTAssertEqual(got.p99, Stats.quantile(sample, 0.99))
            XCTAssertEqual(got.min, sample.min())
            XCTAssertEqual(got.max, sample.max())
            XCTAssertEqual(try XCTUnwrap(got.mean), try XCTUnwrap(Stats.mean(sample)), accuracy: 1e-12)
        }
    }

    func testFailedRequestsCountAsFluidityZeroAndAreNeverDropped() {
        var records = (0..<99).map { record($0, at: Double($0) * 0.1) }
        records.append(RequestRecord(id: 99, scheduledS: 9.9, sentS: 9.9, status: .httpError, httpStatus: 503, error: "503"))
        let s = RunSummary(records: records, targetRate: 10, deadlines: .referenceDefault)
        XCTAssertEqual(s.requests, 100)
        XCTAssertEqual(s.ok, 99)
        XCTAssertEqual(s.errors, ["http_error": 1])
        XCTAssertEqual(s.errorRate, 0.01, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.fluidity.p1), 0.99, accuracy: 1e-12, "1st percentile interpolates between the 0 and the 1s")
        XCTAssertEqual(try XCTUnwrap(s.fluidity.mean), 0.99, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.offeredRate), 10, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(s.ttft.p50), 0.1, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(s.tbt.p99), 0.02, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(s.tpot.mean), 0.02, accuracy: 1e-9)
        XCTAssertTrue(s.client.trustworthy)
        // 100 requests, but the latencies rest on the 99 successful ones.
        XCTAssertEqual(s.percentileWarning, "P99 and P1 over fewer than 100 samples are close to the sample's extremes: "
            + "ttft (99), ttfot (99), tpot (99), e2e (99), norm. lat. (99), fluid token rate (99)")
    }

    /// Latencies, rates and the service miss rate are over the successful requests; fluidity over all.
    func testTimeToFirstOutputTokenAndReasoningAreReportedBesideTTFT() throws {
        // Request 0 reasons for two tokens, request 1 answers at once, request 2 only reasons.
        let records = [
            RequestRecord(id: 0, scheduledS: 0, sentS: 0, chunkTimesS: [0.1, 0.2, 0.5, 0.6], chunkTokens: [1, 1, 1, 1],
                          chunkReasoningTokens: [1, 1, 0, 0]),
            RequestRecord(id: 1, scheduledS: 1, sentS: 1, chunkTimesS: [1.1, 1.2], chunkTokens: [1, 1]),
            RequestRecord(id: 2, scheduledS: 2, sentS: 2, chunkTimesS: [2.1, 2.2], chunkTokens: [1, 2], chunkReasoningTokens: [1, 2]),
        ]
        let s = RunSummary(records: records, targetRate: 1, deadlines: .referenceDefault)
        XCTAssertEqual(s.ttft.count, 3)
        XCTAssertEqual(try XCTUnwrap(s.ttft.max), 0.1, accuracy: 1e-9, "TTFT is the first token of any kind")
        let ttfot = try XCTUnwrap(s.ttfot)
        XCTAssertEqual(ttfot.count, 2, "the request without a visible token has no TTFOT")
        XCTAssertEqual(try XCTUnwrap(ttfot.max), 0.5, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(ttfot.min), 0.1, accuracy: 1e-9)
        let reasoning = try XCTUnwrap(s.reasoning)
        XCTAssertEqual(reasoning.requests, 2)
        XCTAssertEqual(reasoning.tokens, 5)
        XCTAssertEqual(reasoning.withoutVisibleOutput, 1)
        XCTAssertNil(s.fluidity.tokens, "the default view is not written")
        XCTAssertNil(RunSummary(records: [records[1]], targetRate: 1, deadlines: .referenceDefault).reasoning)

        let visible = RunSummary(records: records, targetRate: 1,
                                 deadlines: FluidityDeadlines(ttft: .fixed(0.3), tbt: 0.03, tokens: .visible))
        XCTAssertEqual(visible.fluidity.tokens, .visible)
        // Request 0: one visible gap of 0.1 s misses 3; request 1: 0.1 s misses 3; request 2: no answer, 1 missed.
        XCTAssertEqual(visible.fluidity.serviceDeadlines, DeadlineCount(missed: 7, total: 7))
        XCTAssertEqual(visible.fluidity.mean, 0)
    }

    func testEveryFigureKeepsTheCountItRestsOn() throws {
        let records = (0..<21).map { i in
            i % 3 == 0
                ? RequestRecord(id: i, scheduledS: Double(i), sentS: Double(i), status: .timeout, error: "total timeout")
                : record(i, at: Double(i))
        }
        let s = RunSummary(records: records, targetRate: 1, deadlines: .referenceDefault)
        XCTAssertEqual(s.requests, 21)
        XCTAssertEqual(s.ok, 14)
        for (name, d) in s.latencies where !["tbt", "inter-chunk"].contains(name) { XCTAssertEqual(d.count, 14, name) }
        XCTAssertEqual(s.tbt.count, 14 * 9)
        XCTAssertEqual(s.interChunkLatency.count, 14 * 9)
        XCTAssertEqual(s.fluidity.requests, 21)
        XCTAssertEqual(s.fluidity.serviceRequests, 14)
        XCTAssertEqual(s.fluidity.serviceDeadlines, DeadlineCount(missed: 0, total: 14 * 10))
        XCTAssertEqual(s.tokenRates.requests, 14)
        XCTAssertEqual(s.tokenRates.tokenGaps, 14 * 9)
        let warning = try XCTUnwrap(s.percentileWarning)
        for named in ["ttft (14)", "tpot (14)", "fluidity P1 (21)", "fluid token rate (14)", "client lag (21)"] {
            XCTAssertTrue(warning.contains(named), warning)
        }
        XCTAssertFalse(warning.contains("tbt"), "126 pooled gaps are enough: \(warning)")
    }

    /// More than 100 requests, but fewer than 100 successful: the latency percentiles are still flagged.
    func testThePercentileWarningFollowsEachFiguresOwnCount() throws {
        let records = (0..<150).map { i in
            i < 60
                ? RequestRecord(id: i, scheduledS: Double(i) * 0.1, sentS: Double(i) * 0.1, status: .httpError, httpStatus: 503)
                : record(i, at: Double(i) * 0.1)
        }
        let s = RunSummary(records: records, targetRate: 10, deadlines: .referenceDefault)
        let warning = try XCTUnwrap(s.percentileWarning)
        XCTAssertTrue(warning.contains("ttft (90)"), warning)
        XCTAssertFalse(warning.contains("fluidity"), "fluidity is over all 150 requests: \(warning)")
        let allOk = RunSummary(records: (0..<150).map { record($0, at: Double($0) * 0.1) }, targetRate: 10, deadlines: .referenceDefault)
        XCTAssertNil(allOk.percentileWarning)
    }

    /// As in the reference, a request of fewer than two tokens enters the TPOT mean with a TPOT of 0,
    /// while the reported TPOT distribution is over requests of two or more tokens.
    func testOneTokenRequestsCountAsTPOTZeroInTheTPOTBasedRate() throws {
        let records = [record(0, at: 0, gap: 0.02, tokens: 3), record(1, at: 1, tokens: 1)]
        let s = RunSummary(records: records, targetRate: nil, deadlines: .referenceDefault)
        XCTAssertEqual(try XCTUnwrap(s.tokenRates.tpotBased), 1 / ((0.02 + 0) / 2), accuracy: 1e-9)
        XCTAssertEqual(s.tokenRates.requests, 2)
        XCTAssertEqual(s.tpot.count, 1)
        XCTAssertEqual(try XCTUnwrap(s.tpot.mean), 0.02, accuracy: 1e-12)
    }

    func testLaggingClientIsFlagged() throws {
        let records = (0..<10).map { record($0, at: Double($0), lag: 0.05) }
        let s = RunSummary(records: records, targetRate: 1, deadlines: .referenceDefault)
        XCTAssertFalse(s.client.trustworthy)
        XCTAssertEqual(try XCTUnwrap(s.client.lag.p50), 0.05, accuracy: 1e-9)
        XCTAssertNotNil(s.percentileWarning)
        let late = RunSummary(records: records.map { var r = $0; r.sentS = r.scheduledS; return r }, targetRate: 1,
                              deadlines: .referenceDefault, timerLateness: [0.001, 0.2])
        XCTAssertFalse(late.client.trustworthy, "a late timer makes the run untrustworthy too")
    }

    func testClientFaultsMakeTheRunUntrustworthyAndSayWhy() throws {
        var records = (0..<10).map { record($0, at: Double($0), lag: 0) }
        for i in [2, 5, 7] {
            records[i] = RequestRecord(id: i, scheduledS: Double(i), status: .clientError,
                                       error: "could not open a socket (EMFILE: Too many open files)")
        }
        records[8] = RequestRecord(id: 8, scheduledS: 8, status: .connectionError, error: "connection refused")
        let s = RunSummary(records: records, targetRate: 1, deadlines: .referenceDefault)
        XCTAssertFalse(s.client.trustworthy)
        XCTAssertEqual(s.client.faults?.requests, 3, "a server's refusal is not a client fault")
        XCTAssertEqual(s.client.untrustworthyReasons,
                       ["client fault: 3 of 10 requests could not open a socket (EMFILE: Too many open files)"])
        XCTAssertEqual(s.errors["client_error"], 3)

        let healthy = RunSummary(records: Array(records.prefix(2)), targetRate: 1, deadlines: .referenceDefault)
        XCTAssertTrue(healthy.client.trustworthy)
        XCTAssertEqual(healthy.client.untrustworthyReasons, [])

        // Summaries written before faults were counted still decode.
        var old = try JSONSerialization.jsonObject(with: JSONEncoder().encode(healthy)) as! [String: Any]
        var client = old["client"] as! [String: Any]
        client["faults"] = nil
        client["untrustworthy_reasons"] = nil
        old["client"] = client
        let decoded = try JSONDecoder().decode(RunSummary.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertNil(decoded.client.faults)
        XCTAssertTrue(decoded.client.trustworthy)
    }

    func testPrefillModelDeadlines() throws {
        let policy = FirstTokenDeadline.prefillModel(.init(coefficients: [0.01, 0.0001]), slack: 0.3)
        XCTAssertEqual(policy.deadline(promptTokens: 1000), 0.41, accuracy: 1e-12)
        let spec = FluidityDeadlines(ttft: policy, tbt: 0.03)
        // TTFT 0.35 meets D_p(1000) = 0.41 but not a fixed 0.3.
        let r = record(0, at: 0, ttft: 0.35, gap: 0.01, tokens: 2)
        var withPrompt = r; withPrompt.promptTokens = 1000
        XCTAssertEqual(spec.fluidityIndex(of: withPrompt), 1)
        XCTAssertLessThan(FluidityDeadlines(ttft: .fixed(0.3), tbt: 0.03).fluidityIndex(of: withPrompt), 1)
    }
}
