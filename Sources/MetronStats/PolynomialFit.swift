/// A least-squares polynomial y = c0 + c1 x + ... + cd x^d, fitted with GSL's multifit.
public struct PolynomialFit: Codable, Sendable, Equatable {
    public var coefficients: [Double]
    /// Root mean square of the residuals.
    public var rmsResidual: Double
    /// Largest absolute residual.
    public var maxAbsResidual: Double
    /// Coefficient of determination.
    public var rSquared: Double

    public init(coefficients: [Double], rmsResidual: Double = 0, maxAbsResidual: Double = 0, rSquared: Double = 1) {
        self.coefficients = coefficients
        self.rmsResidual = rmsResidual
        self.maxAbsResidual = maxAbsResidual
        self.rSquared = rSquared
    }

    public func callAsFunction(_ x: Double) -> Double {
        coefficients.reversed().reduce(0) { $0 * x + $1 }
    }

    public enum FitError: Error, CustomStringConvertible, Equatable {
        case tooFewPoints(have: Int, need: Int)
        case mismatched(xs: Int, ys: Int)
        public var description: String {
            switch self {
            case let .tooFewPoints(have, need): return "polynomial fit needs at least \(need) points, got \(have)"
            case let .mismatched(xs, ys): return "polynomial fit got \(xs) x values and \(ys) y values"
            }
        }
    }

    /// Fits a polynomial of the given degree to (x, y) points by ordinary least squares.
    public static func fit(x: [Double], y: [Double], degree: Int) throws -> PolynomialFit {
        guard x.count == y.count else { throw FitError.mismatched(xs: x.count, ys: y.count) }
        let n = x.count, p = degree + 1
        guard n >= p else { throw FitError.tooFewPoints(have: n, need: p) }
        let design = x.map { xi in (0..<p).reduce(into: [Double]()) { row, j in row.append(j == 0 ? 1 : row[j - 1] * xi) } }
        let model = try LinearModel.fit(design: design, y: y)
        let chisq = model.residualSumOfSquares
        var result = PolynomialFit(coefficients: model.coefficients)
        let residuals = zip(x, y).map { $1 - result($0) }
        result.rmsResidual = (residuals.map { $0 * $0 }.reduce(0, +) / Double(n)).squareRoot()
        result.maxAbsResidual = residuals.map(abs).max() ?? 0
        let meanY = y.reduce(0, +) / Double(n)
        let total = y.map { ($0 - meanY) * ($0 - meanY) }.reduce(0, +)
        result.rSquared = total > 0 ? 1 - chisq / total : 1
        return result
    }
}
