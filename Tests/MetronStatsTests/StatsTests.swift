import MetronStats
import XCTest

final class StatsTests: XCTestCase {
    func testLinearInterpolationQuantilesMatchNumpy() throws {
        // numpy.quantile([1, 2, 3, 4], q) with the default linear method.
        let sample = [4.0, 1, 3, 2]
        XCTAssertEqual(Stats.quantile(sample, 0), 1)
        XCTAssertEqual(Stats.quantile(sample, 1), 4)
        XCTAssertEqual(try XCTUnwrap(Stats.quantile(sample, 0.5)), 2.5, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(Stats.quantile(sample, 0.99)), 3.97, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(Stats.quantile(sample, 0.01)), 1.03, accuracy: 1e-12)
        XCTAssertNil(Stats.quantile([], 0.5))
        XCTAssertEqual(Stats.quantile([7], 0.99), 7)
    }

    func testDistribution() throws {
        let d = Distribution((1...100).map(Double.init))
        XCTAssertEqual(d.count, 100)
        XCTAssertEqual(try XCTUnwrap(d.mean), 50.5, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(d.p50), 50.5, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(d.p99), 99.01, accuracy: 1e-9)
        XCTAssertEqual(Distribution([]).count, 0)
        XCTAssertNil(Distribution([]).p99)
    }

    func testSeededRandomSourceIsReproducible() {
        let a = RandomSource(seed: 42), b = RandomSource(seed: 42), c = RandomSource(seed: 43)
        let xa = (0..<5).map { _ in a.uniform() }
        XCTAssertEqual(xa, (0..<5).map { _ in b.uniform() })
        XCTAssertNotEqual(xa, (0..<5).map { _ in c.uniform() })
    }

    func testExponentialAndGammaTakeRatesNotMeans() throws {
        let rng = RandomSource(seed: 7)
        let n = 200_000
        let exp = (0..<n).map { _ in rng.exponential(rate: 4) }
        XCTAssertEqual(try XCTUnwrap(Stats.mean(exp)), 0.25, accuracy: 0.003)
        // Gamma with shape 4 and scale 1 / (rate * shape): mean 1 / rate, CV 0.5.
        let g = (0..<n).map { _ in rng.gamma(shape: 4, scale: 1.0 / (2 * 4)) }
        XCTAssertEqual(try XCTUnwrap(Stats.mean(g)), 0.5, accuracy: 0.005)
        XCTAssertEqual(try XCTUnwrap(Stats.standardDeviation(g)) / XCTUnwrap(Stats.mean(g)), 0.5, accuracy: 0.01)
    }

    func testPolynomialFitRecoversAQuadratic() throws {
        let x = stride(from: 256.0, through: 16384, by: 256).map { $0 }
        let y = x.map { 0.02 + 1e-4 * $0 + 3e-9 * $0 * $0 }
        let fit = try PolynomialFit.fit(x: x, y: y, degree: 2)
        XCTAssertEqual(fit.coefficients.count, 3)
        for (got, (want, accuracy)) in zip(fit.coefficients, [(0.02, 1e-9), (1e-4, 1e-12), (3e-9, 1e-15)]) {
            XCTAssertEqual(got, want, accuracy: accuracy)
        }
        XCTAssertEqual(fit(32768), 0.02 + 1e-4 * 32768 + 3e-9 * 32768 * 32768, accuracy: 1e-6)
        XCTAssertLessThan(fit.rmsResidual, 1e-9)
        XCTAssertEqual(fit.rSquared, 1, accuracy: 1e-9)
    }

    func testLinearModelRecoversTwoPredictorsAndPredicts() throws {
        let rows = (0..<12).map { i in [1, Double(i), Double((i * 7) % 5)] }
        let y = rows.map { 0.5 + 2 * $0[1] - 3 * $0[2] }
        let model = try LinearModel.fit(design: rows, y: y)
        for (got, want) in zip(model.coefficients, [0.5, 2, -3]) { XCTAssertEqual(got, want, accuracy: 1e-9) }
        XCTAssertEqual(model.residualSumOfSquares, 0, accuracy: 1e-12)
        XCTAssertEqual(model.predict([1, 10, 1]), 17.5, accuracy: 1e-9)
    }

    func testLinearModelErrors() {
        XCTAssertThrowsError(try LinearModel.fit(design: [[1, 2]], y: [1])) {
            XCTAssertEqual($0 as? LinearModel.FitError, .tooFewRows(have: 1, need: 2))
        }
        XCTAssertThrowsError(try LinearModel.fit(design: [[1], [2]], y: [1])) {
            XCTAssertEqual($0 as? LinearModel.FitError, .mismatched(rows: 2, ys: 1))
        }
        XCTAssertThrowsError(try LinearModel.fit(design: [[1, 2], [3]], y: [1, 2])) {
            XCTAssertEqual($0 as? LinearModel.FitError, .ragged)
        }
        XCTAssertThrowsError(try LinearModel.fit(design: [], y: [])) {
            XCTAssertEqual($0 as? LinearModel.FitError, .tooFewRows(have: 0, need: 1))
        }
    }

    func testPolynomialFitErrors() {
        XCTAssertThrowsError(try PolynomialFit.fit(x: [1, 2], y: [1, 2], degree: 2)) {
            XCTAssertEqual($0 as? PolynomialFit.FitError, .tooFewPoints(have: 2, need: 3))
        }
        XCTAssertThrowsError(try PolynomialFit.fit(x: [1, 2, 3], y: [1, 2], degree: 1)) {
            XCTAssertEqual($0 as? PolynomialFit.FitError, .mismatched(xs: 3, ys: 2))
        }
    }
}
