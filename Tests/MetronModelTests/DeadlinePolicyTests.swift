import MetronModel
import MetronStats
import XCTest

final class DeadlinePolicyTests: XCTestCase {
    func testPrefillModelDeadlineAddsSlackToPrediction() {
        let fit = PolynomialFit(coefficients: [0.01, 1e-5, 1e-9])
        let policy = FirstTokenDeadline.prefillModel(fit, slack: 0.3)
        XCTAssertEqual(policy.deadline(promptTokens: 1000), 0.01 + 0.01 + 0.001 + 0.3, accuracy: 1e-12)
    }

    func testPrefillModelNeverPredictsNegativeTime() {
        let policy = FirstTokenDeadline.prefillModel(PolynomialFit(coefficients: [-1]), slack: 0.2)
        XCTAssertEqual(policy.deadline(promptTokens: 10), 0.2)
    }
}

/// The two views of the fluidity-index on a hand-built reasoning stream: three reasoning tokens,
/// then three visible ones.
final class FluidityTokensTests: XCTestCase {
    let reasoningFirst = RequestRecord(
        id: 0, scheduledS: 0, sentS: 0, chunkTimesS: [0.5, 0.52, 0.54, 1.0, 1.02, 1.1], chunkTokens: [1, 1, 1, 1, 1, 1],
        promptTokens: 10, outputTokens: 6, chunkReasoningTokens: [1, 1, 1, 0, 0, 0])
    let all = FluidityDeadlines(ttft: .fixed(0.3), tbt: 0.03)
    let visible = FluidityDeadlines(ttft: .fixed(0.3), tbt: 0.03, tokens: .visible)

    func testEveryTokenViewIsTheReferenceOnTheWholeTimeline() {
        var plain = reasoningFirst
        plain.chunkReasoningTokens = nil
        let expected = Fluidity.deadlines(reasoningFirst.timeline.interTokenTimes, ttftDeadline: 0.3, tbtDeadline: 0.03)
        XCTAssertEqual(all.deadlines(of: reasoningFirst), expected)
        XCTAssertEqual(all.deadlines(of: plain), expected, "reasoning changes nothing in the default view")
        // x = [0.5, 0.02, 0.02, 0.46, 0.02, 0.08]: 7 missed by the first token, 14 by the long gap, 2 by the last.
        XCTAssertEqual(expected, DeadlineCount(missed: 23, total: 26))
    }

    func testVisibleViewStartsTheClockAtTheFirstVisibleToken() {
        // Visible gaps after the first visible token: 0.02 (on time, 10 ms slack), 0.08 (misses 2).
        XCTAssertEqual(visible.deadlines(of: reasoningFirst), DeadlineCount(missed: 2, total: 3))
        XCTAssertEqual(reasoningFirst.firstOutputS, 1.0)
        XCTAssertEqual(reasoningFirst.visibleTimeline.ttft, 1.0)
        XCTAssertEqual(reasoningFirst.timeline.ttft, 0.5)
    }

    func testVisibleViewOfAMixedChunkCountsItsVisibleTokensOnly() {
        let mixed = RequestRecord(id: 0, scheduledS: 0, chunkTimesS: [0.1, 0.2, 0.3], chunkTokens: [2, 3, 1],
                                  chunkReasoningTokens: [2, 1, 0])
        XCTAssertEqual(mixed.visibleTimeline.chunkTimes, [0.2, 0.3])
        XCTAssertEqual(mixed.visibleTimeline.chunkTokens, [2, 1])
        XCTAssertEqual(mixed.reasoningTokens, 3)
        // x = [0.2, 0, 0.1]: the first visible token has no deadline, the second is on time (30 ms slack),
        // the third is 70 ms past the slack and misses 2.
        XCTAssertEqual(visible.deadlines(of: mixed), DeadlineCount(missed: 2, total: 3))
    }

    func testWithoutReasoningTheVisibleViewDropsOnlyTheFirstTokenDeadline() {
        var plain = reasoningFirst
        plain.chunkReasoningTokens = nil
        let x = plain.timeline.interTokenTimes
        XCTAssertEqual(visible.deadlines(of: plain), Fluidity.deadlines(x, ttftDeadline: 0, tbtDeadline: 0.03, ignoreFirstToken: true))
    }

    func testNoVisibleTokenMissesOneDeadline() {
        let thinking = RequestRecord(id: 0, scheduledS: 0, chunkTimesS: [0.1, 0.2], chunkTokens: [1, 1], chunkReasoningTokens: [1, 1])
        XCTAssertNil(thinking.firstOutputS)
        XCTAssertEqual(visible.deadlines(of: thinking), DeadlineCount(missed: 1, total: 1))
        XCTAssertEqual(visible.fluidityIndex(of: thinking), 0)
        XCTAssertEqual(all.fluidityIndex(of: thinking), 1, "both tokens were on time")
    }

    func testSummariesNameTheView() {
        XCTAssertEqual(all.summary, "fixed D_p = 0.3 s, D_d = 0.03 s")
        XCTAssertEqual(visible.summary, "visible tokens only, from the first, D_d = 0.03 s")
    }
}
