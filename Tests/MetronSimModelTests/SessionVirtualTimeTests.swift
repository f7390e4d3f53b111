import MetronModel
import MetronSimModel
import XCTest

/// Turns in virtual time: each is sent when the answer before it ended plus its think time.
final class SessionVirtualTimeTests: XCTestCase {
    private let config = SimulatorConfig(hardware: .h100, model: .llama3_8b, seed: 2, prefixCaching: true)

    private func plan(thinkS: Double, turns: Int = 3) throws -> [PlannedRequest] {
        try WorkloadSpec(lengths: .distributions(prompt: .fixed(300), output: .fixed(16)),
                         sessions: SessionSpec(turns: .fixed(turns), thinkTimeS: .fixed(thinkS)), seed: 4)
            .plan(rate: 0.5, duration: 20)
    }

    func testEachTurnIsSentWhenTheAnswerBeforeItEndedPlusTheThinkTime() throws {
        let plan = try plan(thinkS: 1.5)
        let records = try simulateInVirtualTime(plan, config: config)
        XCTAssertEqual(records.map(\.status), Array(repeating: .ok, count: plan.count))
        let next = try plan.nextTurnPositions()
        XCTAssertEqual(next.count, plan.count * 2 / 3)
        for (before, after) in next {
            let answerEnd = try XCTUnwrap(records[before].chunkTimesS.last)
            XCTAssertEqual(records[after].scheduledS, answerEnd + 1.5, accuracy: 1e-9)
            XCTAssertEqual(records[after].sentS, records[after].scheduledS)
            XCTAssertEqual(records[after].session, plan[after].turn?.session)
            XCTAssertEqual(records[after].turn, plan[after].turn?.index)
            XCTAssertEqual(records[after].promptTokens, plan[after].promptTokens)
            // The conversation before the turn is in the cache: at least the earlier prompt's whole blocks.
            XCTAssertGreaterThanOrEqual(records[after].cachedPromptTokens ?? 0, plan[before].promptTokens / 16 * 16 - 16,
                                        "turn \(plan[after].turn!.index) of session \(plan[after].turn!.session)")
        }
        for r in records where r.turn == 0 { XCTAssertEqual(r.cachedPromptTokens, 0) }
    }

    func testTurnsAfterOneThatDidNotFinishAreNeverSent() throws {
        let plan = try plan(thinkS: 0)
        // A drain limit inside the first session's second answer.
        let first = try simulateInVirtualTime(plan, config: config)
        let secondTurn = try XCTUnwrap(plan.firstIndex { $0.turn == PlannedTurn(session: 0, index: 1, thinkTimeS: 0, historyTokens: 316) })
        let limit = try XCTUnwrap(first[secondTurn].chunkTimesS.element(at: 3))
        let records = try simulateInVirtualTime(plan, config: config, drainLimitS: limit)
        XCTAssertEqual(records[secondTurn].status, .cancelled)
        let third = secondTurn + 1
        XCTAssertEqual(records[third].status, .sessionEnded)
        XCTAssertNil(records[third].sentS)
        XCTAssertEqual(records[third].scheduledS, records[secondTurn].scheduledS, "counted where the session broke")
        XCTAssertTrue(records[third].error?.contains("the session's turn before it did not finish") == true)
    }

    func testWithoutSessionsEveryRequestIsSentAtItsArrival() throws {
        let plain = try WorkloadSpec(lengths: .distributions(prompt: .fixed(300), output: .fixed(16)), seed: 4).plan(rate: 2, duration: 5)
        let records = try simulateInVirtualTime(plain, config: config)
        XCTAssertEqual(records.map(\.scheduledS), plain.map(\.arrival))
        XCTAssertTrue(records.allSatisfy { $0.session == nil && $0.turn == nil })
    }
}
