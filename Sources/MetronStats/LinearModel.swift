import CGSL

/// Ordinary least squares y = X b for a design matrix of rows, fitted with GSL's multifit.
public struct LinearModel: Sendable, Equatable {
    public var coefficients: [Double]
    /// Sum of squared residuals.
    public var residualSumOfSquares: Double

    public enum FitError: Error, CustomStringConvertible, Equatable {
        case tooFewRows(have: Int, need: Int)
        case mismatched(rows: Int, ys: Int)
        case ragged
        public var description: String {
            switch self {
            case let .tooFewRows(have, need): return "least squares needs at least \(need) rows, got \(have)"
            case let .mismatched(rows, ys): return "least squares got \(rows) rows and \(ys) y values"
            case .ragged: return "least squares got rows of different lengths"
            }
        }
    }

    public func predict(_ row: [Double]) -> Double { zip(coefficients, row).reduce(0) { $0 + $1.0 * $1.1 } }

    public static func fit(design rows: [[Double]], y: [Double]) throws -> LinearModel {
        guard rows.count == y.count else { throw FitError.mismatched(rows: rows.count, ys: y.count) }
        let n = rows.count, p = rows.first?.count ?? 0
        guard p > 0, n >= p else { throw FitError.tooFewRows(have: n, need: max(p, 1)) }
        guard rows.allSatisfy({ $0.count == p }) else { throw FitError.ragged }
        _ = GSL.ready
        let X = gsl_matrix_alloc(n, p)!, Y = gsl_vector_alloc(n)!, c = gsl_vector_alloc(p)!
        let cov = gsl_matrix_alloc(p, p)!, work = gsl_multifit_linear_alloc(n, p)!
        defer {
            gsl_matrix_free(X); gsl_vector_free(Y); gsl_vector_free(c); gsl_matrix_free(cov)
            gsl_multifit_linear_free(work)
        }
        for i in 0..<n {
            for j in 0..<p { metron_gsl_matrix_set(X, i, j, rows[i][j]) }
            metron_gsl_vector_set(Y, i, y[i])
        }
        var chisq = 0.0
        try GSL.check(gsl_multifit_linear(X, Y, c, cov, &chisq, work), "gsl_multifit_linear")
        return LinearModel(coefficients: (0..<p).map { metron_gsl_vector_get(c, $0) }, residualSumOfSquares: chisq)
    }
}
