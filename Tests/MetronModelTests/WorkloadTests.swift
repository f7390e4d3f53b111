@testable import MetronModel
import MetronStats
import MetronTestSupport
import XCTest

final class WorkloadTests: XCTestCase {
    func testPoissonArrivalsAreUnclippedExponentialGaps() throws {
        let plan = try WorkloadSpec(arrival: .poisson, seed: 3).plan(rate: 50, duration: 400)
        let gaps = zip(plan.dropFirst(), plan).map { $0.arrival - $1.arrival }
        let mean = try XCTUnwrap(Stats.mean(gaps)), sd = try XCTUnwrap(Stats.standardDeviation(gaps))
        XCTAssertEqual(Double(plan.count) / 400, 50, accuracy: 50 * 0.02)
        XCTAssertEqual(sd / mean, 1, accuracy: 0.03, "exponential gaps have CV 1")
        // No clipping at 3 / rate: about e^-3 = 5 % of gaps are longer.
        let long = Double(gaps.filter { $0 > 3.0 / 50 }.count) / Double(gaps.count)
        XCTAssertEqual(long, exp(-3), accuracy: 0.01)
    }

    func testGammaArrivalsHaveTheRequestedCV() throws {
        let plan = try WorkloadSpec(arrival: .gamma(cv: 2), seed: 5).plan(rate: 20, duration: 2000)
        let gaps = zip(plan.dropFirst(), plan).map { $0.arrival - $1.arrival }
        let mean = try XCTUnwrap(Stats.mean(gaps)), sd = try XCTUnwrap(Stats.standardDeviation(gaps))
        XCTAssertEqual(mean, 1.0 / 20, accuracy: 0.003)
        XCTAssertEqual(sd / mean, 2, accuracy: 0.1)
    }

    func testConstantArrivals() throws {
        let plan = try WorkloadSpec(arrival: .constant).plan(rate: 4, duration: 2)
        XCTAssertEqual(plan.map(\.arrival), [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75])
        XCTAssertEqual(plan.map(\.id), Array(0..<8))
    }

    func testTraceArrivalsKeepTheirPatternScaledToTheRate() throws {
        // Four arrivals over 3 s: a mean rate of 4 / 4 s (one gap added between repetitions) = 1/s.
        let offsets = [10.0, 10.25, 10.5, 13]
        let same = try WorkloadSpec(arrival: .trace(offsets: offsets)).plan(rate: 1, duration: 8)
        XCTAssertEqual(same.map(\.arrival), [0, 0.25, 0.5, 3, 4, 4.25, 4.5, 7])
        let twice = try WorkloadSpec(arrival: .trace(offsets: offsets)).plan(rate: 2, duration: 4)
        XCTAssertEqual(twice.map(\.arrival), [0, 0.125, 0.25, 1.5, 2, 2.125, 2.25, 3.5])
        XCTAssertThrowsError(try WorkloadSpec(arrival: .trace(offsets: [1])).plan(rate: 1, duration: 1))
        XCTAssertThrowsError(try WorkloadSpec(arrival: .trace(offsets: [2, 2])).plan(rate: 1, duration: 1))
    }

    func testSameSeedSameLengthsAtEveryRate() throws {
        let spec = WorkloadSpec(lengths: .distributions(prompt: .uniform(min: 10, max: 1000), output: .uniform(min: 5, max: 50)), seed: 9)
        let slow = try spec.plan(rate: 2, duration: 20), fast = try spec.plan(rate: 8, duration: 20)
        XCTAssertGreaterThan(fast.count, slow.count)
        for (a, b) in zip(slow, fast) {
            XCTAssertEqual(a.promptTokens, b.promptTokens)
            XCTAssertEqual(a.outputTokens, b.outputTokens)
        }
        XCTAssertTrue(slow.allSatisfy { (10...1000).contains($0.promptTokens) && (5...50).contains($0.outputTokens) })
    }

    func testZipfIsCorrectlyNormalised() throws {
        let cdf = LengthDistribution.zipfCDF(count: 3, theta: 1)
        let h = 1 + 0.5 + 1.0 / 3
        XCTAssertEqual(cdf.count, 3)
        for (got, want) in zip(cdf, [1 / h, 1.5 / h, 1]) { XCTAssertEqual(got, want, accuracy: 1e-12) }
        let spec = WorkloadSpec(
            arrival: .constant, lengths: .distributions(prompt: .zipf(min: 100, max: 102, theta: 1), output: .fixed(1)), seed: 1)
        let plan = try spec.plan(rate: 1000, duration: 60)
        let share = Double(plan.filter { $0.promptTokens == 100 }.count) / Double(plan.count)
        XCTAssertEqual(share, 1 / h, accuracy: 0.01)
    }

    func testTraceLengthsScaledAndCapped() throws {
        let rows = [TraceRow(promptTokens: 100, outputTokens: 10), TraceRow(promptTokens: 4000, outputTokens: 100)]
        let spec = WorkloadSpec(arrival: .constant, lengths: .trace(rows), promptScale: 0.5, outputScale: 2, maxTotalTokens: 1000)
        let plan = try spec.plan(rate: 10, duration: 1)
        XCTAssertEqual(plan.count, 10)
        XCTAssertTrue(plan.allSatisfy { $0.promptTokens == 50 && $0.outputTokens == 20 }, "the long row exceeds the cap")
        let none = WorkloadSpec(lengths: .trace(rows), maxTotalTokens: 5)
        XCTAssertThrowsError(try none.plan(rate: 1, duration: 1))
    }

    func testInvalidWorkloadsAreRejected() {
        let spec = WorkloadSpec()
        XCTAssertThrowsError(try spec.plan(rate: 0, duration: 1))
        XCTAssertThrowsError(try spec.plan(rate: -1, duration: 1))
        XCTAssertThrowsError(try spec.plan(rate: 1, duration: 0))
        XCTAssertThrowsError(try WorkloadSpec(arrival: .gamma(cv: 0)).plan(rate: 1, duration: 1))
        XCTAssertThrowsError(
            try WorkloadSpec(lengths: .distributions(prompt: .uniform(min: 5, max: 2), output: .fixed(1))).plan(rate: 1, duration: 1))
        XCTAssertThrowsError(
            try WorkloadSpec(lengths: .distributions(prompt: .fixed(0), output: .fixed(1))).plan(rate: 1, duration: 1))
    }

    /// The first 200 rows of each of the paper's traces, with their first row as written.
    func testThePapersTracesParse() throws {
        for (name, first) in [
            ("arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv", TraceRow(promptTokens: 3772, outputTokens: 54)),
            ("bwb_stats_llama2_tokenizer_filtered_v2.csv", TraceRow(promptTokens: 1047, outputTokens: 1368)),
            ("sharegpt_8k_filtered_stats_llama2_tokenizer.csv", TraceRow(promptTokens: 74, outputTokens: 918)),
        ] {
            let rows = try TraceFile.parse(Fixtures.text("traces/\(name)"), source: name)
            XCTAssertEqual(rows.count, 200, name)
            XCTAssertEqual(rows.first, first, name)
        }
    }

    func testTraceErrorsNameFileAndLine() {
        let text = "num_prefill_tokens,num_decode_tokens\n10,5\nabc,5\n7\n3,-1\n"
        XCTAssertThrowsError(try TraceFile.parse(text, source: "t.csv")) { error in
            let messages = (error as? InputErrors)?.messages ?? []
            XCTAssertEqual(messages.count, 3)
            for (message, prefix) in zip(messages, ["t.csv:3: num_prefill_tokens", "t.csv:4: expected 2 fields", "t.csv:5: num_decode_tokens"]) {
                XCTAssertTrue(message.hasPrefix(prefix), message)
            }
        }
        XCTAssertThrowsError(try TraceFile.parse("", source: "e.csv"))
        XCTAssertThrowsError(try TraceFile.parse("a,b\n1,2\n", source: "h.csv")) {
            XCTAssertTrue("\($0)".contains("h.csv:1: header must name"))
        }
        XCTAssertThrowsError(try TraceFile.parse("num_prefill_tokens,num_decode_tokens\n", source: "n.csv"))
        let arrivals = try? TraceFile.parse("num_prefill_tokens,num_decode_tokens,arrived_at\n1,2,0.25\n", source: "a.csv")
        XCTAssertEqual(arrivals?.first?.arrivedAt, 0.25)
    }
}
