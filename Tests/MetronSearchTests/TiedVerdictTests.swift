import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronStats
import MetronTestSupport
import XCTest

/// Percentile verdicts at exact ties, against verdicts computed the reference's way with numpy
/// (`Tests/Fixtures/golden/tied_verdicts.jsonl`, written by `Tests/Fixtures/make_tied_verdicts.py`).
final class TiedVerdictTests: XCTestCase {
    struct Case: Decodable {
        var percentile: Double
        var target_miss_rate: Double
        var requests: [[Int]]
        var quantile: Double
        var passed: Bool
    }

    static let fixture = "golden/tied_verdicts.jsonl"

    /// Deadlines exact in binary, so that every gap below is exactly on time or exactly 1.5 late.
    static let deadlines = FluidityDeadlines(ttft: .fixed(0.25), tbt: 0.03125)

    /// A request whose deadlines are `total`, of which `missed` are missed.
    static func record(id: Int, missed: Int, total: Int) -> RequestRecord {
        let dp = deadlines.ttft.deadline(promptTokens: 0), dd = deadlines.tbt
        let firstLate = missed == total
        var time = firstLate ? dp + dd / 2 : dp
        var times = [time]
        var late = missed - (firstLate ? 1 : 0)
        for _ in 1..<total {
            time += late > 0 ? dd * 1.5 : dd
            late -= 1
            times.append(time)
        }
        return RequestRecord(id: id, scheduledS: Double(id), sentS: Double(id), chunkTimesS: times.map { $0 + Double(id) },
                             chunkTokens: Array(repeating: 1, count: total), requestedOutputTokens: total)
    }

    func testFluidityVerdictsAgreeWithTheReferenceAtExactTies() throws {
        let lines = try Fixtures.lines(Self.fixture)
        XCTAssertEqual(lines.count, 1000, "fixture \(Self.fixture) is incomplete")
        var disagreements = 0, ties = 0
        for (i, line) in lines.enumerated() {
            let c = try JSONDecoder().decode(Case.self, from: Data(line.utf8))
            let records = c.requests.enumerated().map { Self.record(id: $0.offset, missed: $0.element[0], total: $0.element[1]) }
            let target = ((1 - c.target_miss_rate) * 1e12).rounded() / 1e12
            let slo = SLO(kind: .fluidity(percentile: c.percentile, target: target), deadlines: Self.deadlines, maxErrorRate: 1)
            let evaluation = slo.evaluate(records)
            XCTAssertEqual(evaluation.percentileFluidity ?? .nan, 1 - c.quantile, accuracy: 1e-12, "case \(i)")
            if evaluation.passed != c.passed { disagreements += 1 }
            if c.quantile == c.target_miss_rate { ties += 1 }
        }
        XCTAssertEqual(disagreements, 0, "verdicts that differ from the reference's")
        XCTAssertGreaterThan(ties, 100, "the fixture should put many percentiles exactly on the limit")
    }

    func testQuantilesAreNumpysToTheBit() throws {
        for line in try Fixtures.lines(Self.fixture).prefix(200) {
            let c = try JSONDecoder().decode(Case.self, from: Data(line.utf8))
            let missRates = c.requests.map { Double($0[0]) / Double($0[1]) }
            XCTAssertEqual(Stats.quantile(missRates, c.percentile / 100), c.quantile)
        }
        // A tied pair interpolates to its own value, exactly.
        let tied = [0.0] + Array(repeating: 0.9, count: 150) + [1.0]
        for q in stride(from: 0.01, to: 0.99, by: 0.01) { XCTAssertEqual(Stats.quantile(tied, q), 0.9, "q \(q)") }
    }

    func testLatencyLimitsPassWhenThePercentileSitsOnTheLimit() {
        // Every TTFT exactly 0.25 s against a 0.25 s limit: met.
        let records = (0..<150).map { Self.record(id: $0, missed: 0, total: 10) }
        let slo = SLO(kind: .ttftTBT(ttft: LatencyLimit(percentile: 99, limitS: 0.25), tbt: LatencyLimit(percentile: 99, limitS: 0.03125)),
                      deadlines: Self.deadlines)
        let e = slo.evaluate(records)
        XCTAssertTrue(e.passed, "\(e.reasons)")
    }
}
