import Foundation
import MetronModel
import XCTest

final class SessionsTests: XCTestCase {
    private let lengths = LengthSource.distributions(prompt: .fixed(100), output: .fixed(20))

    private func spec(turns: LengthDistribution, think: DurationDistribution = .fixed(2), seed: UInt64 = 3,
                      maxTotalTokens: Int? = nil) -> WorkloadSpec {
        WorkloadSpec(lengths: lengths, maxTotalTokens: maxTotalTokens,
                     sessions: SessionSpec(turns: turns, thinkTimeS: think), seed: seed)
    }

    func testEachSessionsTurnsCarryTheConversationBeforeThem() throws {
        let plan = try spec(turns: .fixed(3)).plan(rate: 2, duration: 20)
        let sessions = Dictionary(grouping: plan) { $0.turn!.session }
        XCTAssertGreaterThan(sessions.count, 20)
        XCTAssertEqual(plan.map(\.id), Array(plan.indices), "ids run session by session, turn by turn")
        for (_, turns) in sessions {
            XCTAssertEqual(turns.map { $0.turn!.index }, [0, 1, 2])
            XCTAssertEqual(turns.map(\.promptTokens), [100, 220, 340], "each prompt adds the answer and message before it")
            XCTAssertEqual(turns.map(\.ownPromptTokens), [100, 100, 100])
            XCTAssertEqual(turns.map { $0.turn!.thinkTimeS }, [0, 2, 2])
            XCTAssertEqual(Set(turns.map(\.arrival)).count, 1, "every turn's arrival is its session's start")
            XCTAssertEqual(turns.map(\.followsAnswer), [false, true, true])
        }
        let starts = sessions.values.map { $0[0].arrival }
        XCTAssertEqual(Double(starts.count) / 20, 2, accuracy: 0.6, "sessions arrive at the rate")
        XCTAssertEqual(spec(turns: .fixed(3)).requestsPerArrival, 3)
    }

    func testTurnCountsAndThinkTimesFollowTheirDistributionsAndTheSeed() throws {
        let workload = spec(turns: .uniform(min: 2, max: 6), think: .exponential(mean: 3))
        let plan = try workload.plan(rate: 5, duration: 200)
        let counts = Dictionary(grouping: plan) { $0.turn!.session }.values.map(\.count)
        XCTAssertEqual(Set(counts), [2, 3, 4, 5, 6])
        XCTAssertEqual(Double(counts.reduce(0, +)) / Double(counts.count), 4, accuracy: 0.15)
        XCTAssertEqual(workload.requestsPerArrival, 4)
        let thinks = plan.filter(\.followsAnswer).map { $0.turn!.thinkTimeS }
        XCTAssertEqual(thinks.reduce(0, +) / Double(thinks.count), 3, accuracy: 0.2)
        XCTAssertEqual(try workload.plan(rate: 5, duration: 200), plan, "the same seed, the same plan")
        XCTAssertNotEqual(try spec(turns: .uniform(min: 2, max: 6), think: .exponential(mean: 3), seed: 4).plan(rate: 5, duration: 200), plan)
        // The i-th session has the same turns at every rate, so probes at two rates stay paired.
        let faster = try workload.plan(rate: 10, duration: 200)
        let first = plan.prefix { $0.turn!.session < 10 }
        XCTAssertEqual(first.map(\.promptTokens), faster.prefix(first.count).map(\.promptTokens))
        XCTAssertEqual(first.map { $0.turn!.thinkTimeS }, faster.prefix(first.count).map { $0.turn!.thinkTimeS })
    }

    func testMaxTotalTokensEndsASessionBeforeTheTurnThatWouldExceedIt() throws {
        let plan = try spec(turns: .fixed(10), maxTotalTokens: 500).plan(rate: 1, duration: 10)
        for (_, turns) in Dictionary(grouping: plan, by: { $0.turn!.session }) {
            // 100 + 20, 220 + 20, 340 + 20, then 460 + 20 = 480; 580 + 20 would pass 500.
            XCTAssertEqual(turns.map(\.promptTokens), [100, 220, 340, 460])
        }
    }

    func testASharedPrefixBeginsOnlyTheFirstTurn() throws {
        var workload = spec(turns: .fixed(2))
        workload.sharedPrefix = SharedPrefix(count: 1, tokens: 50, fraction: 1)
        let plan = try workload.plan(rate: 2, duration: 10)
        XCTAssertTrue(plan.filter { $0.turn!.index == 0 }.allSatisfy { $0.sharedPrefix == PlannedPrefix(index: 0, tokens: 50) })
        XCTAssertTrue(plan.filter(\.followsAnswer).allSatisfy { $0.sharedPrefix == nil })
        workload.sharedPrefix = SharedPrefix(count: 1, tokens: 100, fraction: 1)
        XCTAssertThrowsError(try workload.plan(rate: 2, duration: 10)) {
            XCTAssertTrue("\($0)".contains("does not fit in the first message of session 0 (100 tokens)"), "\($0)")
        }
    }

    func testNextTurnPositionsFollowTheSessionsAndRefuseAMissingTurn() throws {
        let plan = try spec(turns: .fixed(2)).plan(rate: 1, duration: 5)
        let next = try plan.nextTurnPositions()
        XCTAssertEqual(next.count, plan.count / 2)
        for (before, after) in next {
            XCTAssertEqual(plan[before].turn!.session, plan[after].turn!.session)
            XCTAssertEqual(plan[before].turn!.index + 1, plan[after].turn!.index)
        }
        XCTAssertThrowsError(try Array(plan.filter { $0.turn!.index == 1 }).nextTurnPositions()) {
            XCTAssertTrue("\($0)".contains("turn 1 of session 0 (request 1) has no turn 0 before it"), "\($0)")
        }
    }

    func testThinkTimeParsingAndItsErrors() throws {
        XCTAssertEqual(try DurationDistribution(parsing: "2.5"), .fixed(2.5))
        XCTAssertEqual(try DurationDistribution(parsing: "fixed:1"), .fixed(1))
        XCTAssertEqual(try DurationDistribution(parsing: "uniform:1:4"), .uniform(min: 1, max: 4))
        XCTAssertEqual(try DurationDistribution(parsing: "exponential:3"), .exponential(mean: 3))
        for (text, expected) in [
            ("-1", "a think time must be zero or more seconds, got -1"),
            ("uniform:-1:2", "a think time must be zero or more seconds, got min -1"),
            ("uniform:3:2", "max (2) must be at least min (3)"),
            ("exponential:-2", "a mean think time must be zero or more seconds, got -2"),
            ("soon", "'soon' is not a number of seconds"),
            ("normal:1:2", "expected S, fixed:S, uniform:MIN:MAX or exponential:MEAN"),
        ] {
            XCTAssertThrowsError(try DurationDistribution(parsing: text), text) {
                XCTAssertTrue("\($0)".contains(expected), "\(text): \($0)")
            }
        }
        XCTAssertThrowsError(try spec(turns: .fixed(2), think: .fixed(-1)).plan(rate: 1, duration: 5)) {
            XCTAssertTrue("\($0)".contains("sessions: think_time_s: a think time must be zero or more seconds"), "\($0)")
        }
        XCTAssertThrowsError(try spec(turns: .fixed(0)).plan(rate: 1, duration: 5)) {
            XCTAssertTrue("\($0)".contains("sessions: turns:"), "\($0)")
        }
    }

    func testTurnsAreKeptInRecordsAndPlansAcrossJSON() throws {
        var record = RequestRecord(id: 4, scheduledS: 1.5)
        record.session = 2
        record.turn = 1
        let data = try JSONEncoder().encode(record)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains(#""session":2"#))
        XCTAssertEqual(try JSONDecoder().decode(RequestRecord.self, from: data), record)
        XCTAssertFalse(record.opensArrival)
        XCTAssertTrue(RequestRecord(id: 0, scheduledS: 0).opensArrival)

        let plan = try spec(turns: .fixed(2)).plan(rate: 1, duration: 5)
        let encoded = try JSONEncoder().encode(plan)
        XCTAssertTrue(String(decoding: encoded, as: UTF8.self).contains(#""think_time_s":2"#))
        XCTAssertEqual(try JSONDecoder().decode([PlannedRequest].self, from: encoded), plan)
    }

    func testASessionsTurnsStayInOneShard() throws {
        let plan = try spec(turns: .fixed(3)).plan(rate: 4, duration: 10)
        let shards = (0..<3).map { Shard(index: $0, count: 3) }
        let shares = shards.map { $0.share(of: plan) }
        XCTAssertEqual(shares.map(\.count).reduce(0, +), plan.count)
        for share in shares {
            XCTAssertNoThrow(try share.nextTurnPositions(), "every turn's turn before it is in the same shard")
        }
        var moved = plan
        moved[1].turn?.thinkTimeS = 9
        XCTAssertNotEqual(Shard.fingerprint(of: plan), Shard.fingerprint(of: moved), "the fingerprint covers the turns")
    }

    /// Per-turn figures: turn 0's requests apart from turn 1's, a failed turn counting 0 in its fluidity.
    func testTheSummaryReportsSessionsAndEachTurnIndex() {
        func record(_ id: Int, session: Int, turn: Int, at t: Double, ok: Bool = true, prompt: Int) -> RequestRecord {
            var r = RequestRecord(id: id, scheduledS: t, sentS: t, chunkTimesS: ok ? [t + 0.1 * Double(turn + 1), t + 0.5] : [],
                                  chunkTokens: ok ? [1, 1] : [], status: ok ? .ok : .sessionEnded)
            r.promptTokens = ok ? prompt : nil
            r.session = session
            r.turn = turn
            return r
        }
        let records = [
            record(0, session: 0, turn: 0, at: 0, prompt: 100), record(1, session: 0, turn: 1, at: 2, prompt: 220),
            record(2, session: 1, turn: 0, at: 1, prompt: 100), record(3, session: 1, turn: 1, at: 3, ok: false, prompt: 0),
            record(4, session: 2, turn: 0, at: 4, prompt: 100),
        ]
        let summary = RunSummary(records: records, targetRate: 1, deadlines: .referenceDefault)
        let sessions = try! XCTUnwrap(summary.sessions)
        XCTAssertEqual(sessions.sessions, 3)
        XCTAssertEqual(sessions.offeredRate ?? 0, 0.5, accuracy: 1e-9, "3 session starts over 4 s")
        XCTAssertEqual(sessions.requestsPerSession ?? 0, 5.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(sessions.turns.map(\.turn), [0, 1])
        XCTAssertEqual(sessions.turns.map(\.requests), [3, 2])
        XCTAssertEqual(sessions.turns.map(\.ok), [3, 1])
        XCTAssertEqual(sessions.turns[0].ttft.p50 ?? 0, 0.1, accuracy: 1e-9)
        XCTAssertEqual(sessions.turns[1].ttft.p50 ?? 0, 0.2, accuracy: 1e-9)
        XCTAssertEqual(sessions.turns[1].promptTokens.mean ?? 0, 220, accuracy: 1e-9)
        XCTAssertEqual(sessions.turns[1].fluidityP1 ?? 1, 0, accuracy: 0.01, "the turn never sent counts 0")
        XCTAssertEqual(summary.errors, ["session_ended": 1])
        XCTAssertNil(RunSummary(records: [RequestRecord(id: 0, scheduledS: 0)], targetRate: 1, deadlines: .referenceDefault).sessions)
    }
}
