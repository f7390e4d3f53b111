@testable import MetronModel
import MetronStats
import XCTest

final class FluidityTests: XCTestCase {
    /// The worked examples of METRICS.md section 3.
    func testWorkedExamples() {
        let x = [0.25, 0.02, 0.03, 0.12, 0.0, 0.01, 0.30, 0.04]
        let rows: [(x: [Double], ignore: Bool, rate: Double, missed: Int, total: Int)] = [
            (x, false, 0.3, 3, 10),
            (x, true, 0.5, 5, 10),
            ([0.5, 0.05, 0.05], false, 0.7142857, 5, 7),
            ([0.1] + Array(repeating: 0.05, count: 9) + [1.0], false, 0.6153846, 16, 26),
            ([], false, 0, 0, 0),
        ]
        for row in rows {
            let got = Fluidity.deadlines(row.x, ttftDeadline: 0.3, tbtDeadline: 0.05, ignoreFirstToken: row.ignore)
            XCTAssertEqual(got.missRate, row.rate, accuracy: 1e-7, "\(row.x)")
            XCTAssertEqual(got.missed, row.missed, "\(row.x)")
            XCTAssertEqual(got.total, row.total, "\(row.x)")
            XCTAssertEqual(got.fluidityIndex, 1 - row.rate, accuracy: 1e-7)
        }
    }

    // Binary-exact times (multiples of 1/8 s) so that the boundaries are exact.
    func testSlackCarriesForwardAndResetsAfterAMiss() {
        // 0.25 s early on the first token leaves slack for a 0.375 s gap at D_d = 0.25.
        XCTAssertEqual(
            Fluidity.deadlines([0.25, 0.375, 0.25], ttftDeadline: 0.5, tbtDeadline: 0.25), DeadlineCount(missed: 0, total: 3))
        // No slack: each 0.5 s gap misses two 0.25 s deadlines.
        XCTAssertEqual(
            Fluidity.deadlines([0.5, 0.5, 0.5], ttftDeadline: 0.5, tbtDeadline: 0.25), DeadlineCount(missed: 4, total: 5))
        // After a miss the slack is 0 again: a gap of exactly D_d is on time.
        XCTAssertEqual(
            Fluidity.deadlines([0.5, 0.5, 0.25], ttftDeadline: 0.5, tbtDeadline: 0.25), DeadlineCount(missed: 2, total: 4))
    }

    func testExactBoundariesOfTheFloorDivision() {
        // A gap exactly on its deadline is met.
        XCTAssertEqual(Fluidity.deadlines([0.5], ttftDeadline: 0.5, tbtDeadline: 0.25), DeadlineCount(missed: 0, total: 1))
        // First token late by exactly k * D_d: 1 + k missed.
        XCTAssertEqual(Fluidity.deadlines([1.0], ttftDeadline: 0.5, tbtDeadline: 0.25).missed, 1 + 2)
        // A later token of exactly 3 * D_d misses 3 deadlines.
        XCTAssertEqual(Fluidity.deadlines([0.5, 0.75], ttftDeadline: 0.5, tbtDeadline: 0.25).missed, 3)
    }

    func testPythonFloorDivisionBitForBit() {
        // Python: 1.0 // 0.1 == 9.0, while floor(1.0 / 0.1) == 10.
        XCTAssertEqual(Fluidity.pythonFloorDiv(1.0, 0.1), 9)
        XCTAssertEqual((1.0 / 0.1).rounded(.down), 10)
        XCTAssertEqual(Fluidity.pythonFloorDiv(0.3, 0.1), 2)
        XCTAssertEqual(Fluidity.pythonFloorDiv(7, 2), 3)
        XCTAssertEqual(Fluidity.pythonFloorDiv(-7, 2), -4)
        XCTAssertEqual(Fluidity.pythonFloorDiv(7, -2), -4)
        XCTAssertEqual(Fluidity.pythonFloorDiv(0.15, 0.05), 2)
    }

    /// The fast path agrees with Python's algorithm (fmod first) on the values that reach it:
    /// gaps and slack of every size against deadlines of every size, exact multiples included.
    func testFastFloorDivisionAgreesWithPythonsAlgorithm() {
        let rng = RandomSource(seed: 5)
        for i in 0..<200_000 {
            let b = [0.03, 0.1, 0.05, 1e-4 * Double(1 + i % 997), pow(10, rng.uniform() * 8 - 6)][i % 5]
            let a: Double
            switch i % 4 {
            case 0: a = Double(rng.integer(in: 0...100_000)) * b  // on a multiple, as rounded
            case 1: a = rng.uniform() * 10
            case 2: a = pow(10, rng.uniform() * 20 - 8)
            default: a = (Double(rng.integer(in: 0...1000)) * b).nextUp
            }
            let fast = Fluidity.pythonFloorDiv(a, b), python = Fluidity.pythonFloorDivByFmod(a, b)
            XCTAssertEqual(fast, python, "\(a) // \(b)")
            if fast != python { return }
        }
    }

    func testOneTokenAndIgnoredFirstToken() {
        XCTAssertEqual(Fluidity.deadlines([0.1], ttftDeadline: 0.3, tbtDeadline: 0.05), DeadlineCount(missed: 0, total: 1))
        XCTAssertEqual(
            Fluidity.deadlines([5.0], ttftDeadline: 0.3, tbtDeadline: 0.05, ignoreFirstToken: true),
            DeadlineCount(missed: 0, total: 0))
        XCTAssertEqual(DeadlineCount().missRate, 0)
    }

    func testMinimumTBTDeadlineToMeet() {
        // Smooth 20 ms gaps: the minimum is 20 ms (within the reference's 1e-4 s granularity).
        let smooth = [0.0] + Array(repeating: 0.02, count: 50)
        XCTAssertEqual(
            Fluidity.minTBTDeadlineToMeet(smooth, target: 0, ttftDeadline: 0, ignoreFirstToken: true), 0.02,
            accuracy: 2e-4)
        // A first token that can never be on time: never met.
        XCTAssertEqual(
            Fluidity.minTBTDeadlineToMeet([1e11], target: 0, ttftDeadline: 0), Fluidity.neverMet)
        // Every returned deadline meets the target, and one 2e-4 s smaller does not.
        let bumpy = [0.0, 0.02, 0.03, 0.5, 0.02, 0.01, 0.04, 0.02, 0.02, 0.02]
        let d = Fluidity.minTBTDeadlineToMeet(bumpy, target: 0.1, ttftDeadline: 0, ignoreFirstToken: true)
        XCTAssertLessThanOrEqual(
            Fluidity.deadlines(bumpy, ttftDeadline: 0, tbtDeadline: d, ignoreFirstToken: true).missRate, 0.1)
        XCTAssertGreaterThan(
            Fluidity.deadlines(bumpy, ttftDeadline: 0, tbtDeadline: d - 2e-4, ignoreFirstToken: true).missRate, 0.1)
    }
}
