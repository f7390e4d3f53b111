import MetronStats
import XCTest

final class AttainmentCurveTests: XCTestCase {
    let truth = (midpoint: 10.0, scale: 0.5)
    func truthAttainment(_ r: Double) -> Double { 1 / (1 + exp((r - truth.midpoint) / truth.scale)) }
    var truthCapacity: Double { truth.midpoint + truth.scale * log(0.01 / 0.99) }

    func testRecoversExactCurveFromNoiseFreeData() throws {
        let points = stride(from: 6.0, through: 13.0, by: 1).map {
            AttainmentPoint(rate: $0, attainment: truthAttainment($0), trials: 400)
        }
        let curve = try AttainmentCurve.fit(points)
        // The weak shape prior moves the maximum by well under 1 % of the scale.
        XCTAssertEqual(curve.midpoint, truth.midpoint, accuracy: 1e-3)
        XCTAssertEqual(curve.scale, truth.scale, accuracy: 1e-3)
        XCTAssertEqual(curve.rate(atAttainment: 0.99), truthCapacity, accuracy: 1e-3)
        XCTAssertEqual(curve.dispersion, 1)
    }

    func testIntervalCoversTrueCapacityUnderBinomialNoise() throws {
        var covered = 0, fitted = 0
        for seed in 1...60 {
            let rng = RandomSource(seed: UInt64(seed))
            let points = stride(from: 6.0, through: 12.0, by: 0.75).map { r -> AttainmentPoint in
                let n = 300
                return AttainmentPoint(rate: r, attainment: Double(rng.binomial(p: truthAttainment(r), trials: n)) / Double(n), trials: n)
            }
            guard let curve = try? AttainmentCurve.fit(points),
                  let ci = curve.interval(atAttainment: 0.99, confidence: 0.95) else { continue }
            fitted += 1
            if ci.contains(truthCapacity) { covered += 1 }
            XCTAssertLessThan(ci.upperBound - ci.lowerBound, 3, "seed \(seed): interval \(ci) is uselessly wide")
        }
        XCTAssertGreaterThanOrEqual(fitted, 58)
        XCTAssertGreaterThanOrEqual(Double(covered) / Double(fitted), 0.88, "covered \(covered) of \(fitted)")
    }

    func testIntervalNarrowsWithMoreTrials() throws {
        func width(_ n: Int) throws -> Double {
            let points = stride(from: 6.0, through: 13.0, by: 1).map {
                AttainmentPoint(rate: $0, attainment: truthAttainment($0), trials: n)
            }
            let ci = try XCTUnwrap(AttainmentCurve.fit(points).interval(atAttainment: 0.99, confidence: 0.95))
            return ci.upperBound - ci.lowerBound
        }
        let small = try width(100), large = try width(10_000)
        XCTAssertEqual(small / large, 10, accuracy: 0.5, "width scales as 1/sqrt(n)")
    }

    func testOverdispersedDataWidenTheInterval() throws {
        // Alternating errors far beyond binomial noise must inflate the covariance.
        let points = stride(from: 6.0, through: 13.0, by: 1).enumerated().map { i, r in
            AttainmentPoint(rate: r, attainment: min(1, max(0, truthAttainment(r) + (i % 2 == 0 ? 0.08 : -0.08))), trials: 500)
        }
        let curve = try AttainmentCurve.fit(points)
        XCTAssertGreaterThan(curve.dispersion, 2)
    }

    func testProbesOnEitherSideOfTheLevelDoNotMakeAStep() throws {
        // Perfect probes, then one just under the level: the plain maximum likelihood is a step between
        // them; Jeffreys' penalty keeps a drop the data can bear, and an interval with some width.
        let points = [(4.0, 1.0), (6.0, 1.0), (7.3, 1.0), (7.7, 1.0), (8.0, 0.98), (8.1, 0.982)].map {
            AttainmentPoint(rate: $0.0, attainment: $0.1, trials: 500)
        }
        let curve = try AttainmentCurve.fit(points)
        XCTAssertGreaterThan(curve.scale, 0.05)
        let ci = try XCTUnwrap(curve.profileInterval(atAttainment: 0.99, confidence: 0.95, points: points, limits: 0...16))
        XCTAssertGreaterThan(ci.upperBound - ci.lowerBound, 0.2, "\(ci)")
        XCTAssertTrue(ci.contains(curve.rate(atAttainment: 0.99)))
    }

    func testScatterPriorPoolsWithThePointsOwnScatter() throws {
        // Points on the truth itself: their own chi-square is nearly 0, so the pooled dispersion is the
        // prior's weight over all the degrees of freedom.
        let points = stride(from: 6.0, through: 13.0, by: 1).map {
            AttainmentPoint(rate: $0, attainment: truthAttainment($0), trials: 400)
        }
        let plain = try AttainmentCurve.fit(points)
        XCTAssertEqual(plain.dispersionDegreesOfFreedom, 1 + points.count - 2, "no prior counts as one degree of freedom of 1")
        let pooled = try AttainmentCurve.fit(points, scatterPrior: .init(value: 9, degreesOfFreedom: 30))
        XCTAssertEqual(pooled.dispersionDegreesOfFreedom, 30 + points.count - 2)
        XCTAssertEqual(pooled.dispersion, 9 * 30 / Double(30 + points.count - 2), accuracy: 0.05)
        XCTAssertEqual(pooled.midpoint, plain.midpoint, accuracy: 0.01, "the prior changes the spread, hardly the curve")
        let a = try XCTUnwrap(plain.profileInterval(atAttainment: 0.99, confidence: 0.95, points: points, limits: 0...26))
        let b = try XCTUnwrap(pooled.profileInterval(atAttainment: 0.99, confidence: 0.95, points: points, limits: 0...26))
        // sqrt(7.5) times the standard error, less what Jeffreys' penalty takes back.
        XCTAssertGreaterThan((b.upperBound - b.lowerBound) / (a.upperBound - a.lowerBound), 1.8)
    }

    func testASideTheDataCannotBoundEndsAtTheLimit() throws {
        // One probe on the drop, a huge dispersion with one degree of freedom: nothing excludes rates
        // far below, and the interval says so instead of vanishing.
        let points = [(4.0, 1.0), (8.0, 0.954), (16.0, 0.7)].map { AttainmentPoint(rate: $0.0, attainment: $0.1, trials: 200) }
        let curve = try AttainmentCurve.fit(points, scatterPrior: .init(value: 40, degreesOfFreedom: 1))
        let ci = try XCTUnwrap(curve.profileInterval(atAttainment: 0.99, confidence: 0.95, points: points, limits: 0...32))
        XCTAssertEqual(ci.lowerBound, 0, "\(ci)")
        XCTAssertTrue(ci.contains(curve.rate(atAttainment: 0.99)))
        XCTAssertNil(curve.profileInterval(atAttainment: 0.99, confidence: 0.95, points: points, limits: 40...80),
                     "the crossing itself outside the limits")
    }

    func testFewPointsWidenTheIntervalThroughTheFQuantile() {
        XCTAssertEqual(Stats.fQuantile(upperTail: 0.05, dof1: 1, dof2: 3), 10.128, accuracy: 0.001)
        XCTAssertEqual(Stats.fQuantile(upperTail: 0.05, dof1: 1, dof2: 10_000), 3.8415, accuracy: 0.002)
        XCTAssertEqual(Stats.chiSquareQuantile(upperTail: 0.05, dof: 4), 9.4877, accuracy: 0.001)
    }

    func testAllPassingHasNoTransition() {
        let points = [4.0, 6, 8].map { AttainmentPoint(rate: $0, attainment: 1, trials: 100) }
        XCTAssertThrowsError(try AttainmentCurve.fit(points)) { XCTAssertEqual($0 as? AttainmentCurve.FitError, .noTransition) }
    }

    func testOneRateIsTooFew() {
        let points = [AttainmentPoint(rate: 5, attainment: 0.5, trials: 100), AttainmentPoint(rate: 5, attainment: 0.4, trials: 100)]
        XCTAssertThrowsError(try AttainmentCurve.fit(points)) { XCTAssertEqual($0 as? AttainmentCurve.FitError, .tooFewPoints(1)) }
    }

    func testRejectsAttainmentOutsideZeroOne() {
        let points = [AttainmentPoint(rate: 5, attainment: 1.5, trials: 100), AttainmentPoint(rate: 6, attainment: 0.4, trials: 100)]
        XCTAssertThrowsError(try AttainmentCurve.fit(points))
    }

    func testBinomialSamplerIsSeeded() {
        let a = RandomSource(seed: 7), b = RandomSource(seed: 7)
        let xs = (0..<20).map { _ in a.binomial(p: 0.3, trials: 50) }
        XCTAssertEqual(xs, (0..<20).map { _ in b.binomial(p: 0.3, trials: 50) })
        XCTAssertEqual(Double(xs.reduce(0, +)) / 20, 15, accuracy: 3)
    }
}
