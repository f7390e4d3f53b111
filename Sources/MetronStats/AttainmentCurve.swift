import CGSL
import Foundation

/// One observation of SLO attainment: at `rate`, a fraction `attainment` of `trials` units met
/// their target.
public struct AttainmentPoint: Sendable, Equatable, Codable {
    public var rate: Double
    public var attainment: Double
    public var trials: Int

    public init(rate: Double, attainment: Double, trials: Int) {
        self.rate = rate
        self.attainment = attainment
        self.trials = trials
    }
}

/// A monotone decreasing logistic of SLO attainment against rate,
/// `a(r) = 1 / (1 + exp((r - r0) / s))`, fitted by weighted nonlinear least squares with GSL's
/// trust-region solver (Levenberg-Marquardt).
///
/// The weights are binomial, `n / (mu (1 - mu))` at the current fitted `mu`, refreshed until they
/// settle (iteratively reweighted least squares): the binomial maximum-likelihood logistic. Requests
/// inside one run are not independent (a burst makes many miss together), so the likelihood is
/// divided by a dispersion above 1 (quasi-binomial): the Pearson dispersion of the points pooled with
/// a prior known from elsewhere (`scatterPrior`), on their degrees of freedom together. That start is
/// then refined under a weak prior on the curve's shape (`shapePriorCenter`, maximized with GSL's
/// Nelder-Mead simplex): a few probes near the level say little about the slope, and without it
/// either a near step (probes on either side of the level with nothing between) or a curve flat at
/// the level for every rate probed would fit, far too sure of itself or unbounded. The covariance is
/// the inverse Fisher information at the result, times the dispersion.
public struct AttainmentCurve: Sendable, Equatable, Codable {
    /// Rate at which attainment is one half.
    public var midpoint: Double
    /// Width of the drop, in rate units (> 0).
    public var scale: Double
    /// Covariance of (midpoint, log scale), dispersion included.
    public var covariance: [[Double]]
    /// Dispersion, at least 1: the points' Pearson chi-square pooled with the scatter prior.
    public var dispersion: Double
    /// Degrees of freedom behind `dispersion`: points - 2 plus the prior's (1 without a prior); the
    /// interval's F quantile takes them, so a scatter known from few probes gives a wide interval.
    public var dispersionDegreesOfFreedom: Int
    public var points: Int

    enum CodingKeys: String, CodingKey {
        case midpoint, scale, covariance, dispersion, points
        case dispersionDegreesOfFreedom = "dispersion_degrees_of_freedom"
    }

    public func callAsFunction(_ rate: Double) -> Double {
        1 / (1 + exp((rate - midpoint) / scale))
    }

    /// The rate at which the curve falls to `level` (0 < level < 1).
    public func rate(atAttainment level: Double) -> Double {
        midpoint + scale * log((1 - level) / level)
    }

    /// Delta-method standard error of `rate(atAttainment:)`.
    public func standardError(atAttainment level: Double) -> Double {
        // d rate / d midpoint = 1; d rate / d log(scale) = scale * logit term.
        let g = [1, scale * log((1 - level) / level)]
        var v = 0.0
        for i in 0..<2 { for j in 0..<2 { v += g[i] * covariance[i][j] * g[j] } }
        return v > 0 ? v.squareRoot() : .nan
    }

    /// A two-sided confidence interval of the rate at `level`, normal approximation on the delta
    /// method; nil when the covariance is degenerate.
    public func interval(atAttainment level: Double, confidence: Double) -> ClosedRange<Double>? {
        let se = standardError(atAttainment: level)
        guard se.isFinite else { return nil }
        let z = Stats.normalQuantile(1 - (1 - confidence) / 2)
        let center = rate(atAttainment: level)
        return max(0, center - z * se)...(center + z * se)
    }

    public enum FitError: Error, CustomStringConvertible, Equatable {
        case tooFewPoints(Int)
        case invalidPoint(String)
        /// Every point sits on one side of the drop, or the drop is sharper than the data resolve:
        /// no finite maximum-likelihood curve exists.
        case noTransition
        case solver(String)

        public var description: String {
            switch self {
            case let .tooFewPoints(n): return "the attainment curve needs at least 2 rates with trials, got \(n)"
            case let .invalidPoint(why): return "invalid attainment point: \(why)"
            case .noTransition: return "the probes do not resolve the drop of attainment (all pass, all fail, or a step)"
            case let .solver(why): return "attainment curve fit failed: \(why)"
            }
        }
    }

    /// A dispersion known from elsewhere than the points' scatter around the curve (for example
    /// from how misses cluster inside each probe), with its degrees of freedom.
    public struct DispersionEstimate: Sendable, Equatable {
        public var value: Double
        public var degreesOfFreedom: Int
        public init(value: Double, degreesOfFreedom: Int) {
            self.value = value
            self.degreesOfFreedom = degreesOfFreedom
        }
    }

    /// Fits the curve to points with at least one trial each.
    ///
    /// The dispersion pools what the points' own scatter around the curve shows (Pearson's chi-square,
    /// points - 2 degrees of freedom) with `scatterPrior`, a dispersion known from elsewhere counted as
    /// its degrees of freedom's worth of evidence: `(nu0 phi0 + chi^2) / (nu0 + m - 2)` on
    /// `nu0 + m - 2` degrees of freedom (the conjugate update of a scaled inverse chi-square prior).
    /// With neither, the dispersion is 1 on a single degree of freedom: nothing is known of the scatter,
    /// and the interval says so.
    public static func fit(_ data: [AttainmentPoint], scatterPrior: DispersionEstimate? = nil) throws -> AttainmentCurve {
        let points = data.filter { $0.trials > 0 }
        for p in points {
            guard p.rate.isFinite, p.rate >= 0 else { throw FitError.invalidPoint("rate \(p.rate)") }
            guard (0...1).contains(p.attainment) else { throw FitError.invalidPoint("attainment \(p.attainment)") }
        }
        guard Set(points.map(\.rate)).count >= 2 else { throw FitError.tooFewPoints(Set(points.map(\.rate)).count) }
        let rates = points.map(\.rate)
        let span = (rates.max()! - rates.min()!)
        // No transition at all, or only all-or-nothing points: the width of the drop is unknown.
        guard points.contains(where: { $0.attainment > 0 && $0.attainment < 1 }) else { throw FitError.noTransition }

        // Start at the rate where the data cross one half, with a drop a tenth of the span wide.
        let sorted = points.sorted { $0.rate < $1.rate }
        let crossing = sorted.first(where: { $0.attainment < 0.5 })?.rate ?? sorted.last!.rate
        var x = [crossing, log(max(span / 10, 1e-9))]
        var weights = points.map { Double($0.trials) }
        for _ in 0..<50 {
            let previous = x
            x = try solve(points, weights: weights, start: x)
            let curve = AttainmentCurve(shape: x)
            weights = points.map { Double($0.trials) / variance(curve($0.rate), trials: $0.trials) }
            if abs(x[0] - previous[0]) <= 1e-9 * max(1, abs(x[0])) && abs(x[1] - previous[1]) <= 1e-9 { break }
        }
        guard x.allSatisfy(\.isFinite) else { throw FitError.noTransition }
        let pearsonDegreesOfFreedom = Set(rates).count > 2 ? points.count - 2 : 0
        let prior = scatterPrior ?? DispersionEstimate(value: 1, degreesOfFreedom: 1)
        func dispersion(_ x: [Double]) -> DispersionEstimate {
            let chiSquare = pearsonDegreesOfFreedom > 0 ? AttainmentCurve(shape: x).pearsonChiSquare(points) : 0
            let dof = prior.degreesOfFreedom + pearsonDegreesOfFreedom
            let pooled = (Double(prior.degreesOfFreedom) * prior.value + chiSquare) / Double(max(dof, 1))
            return DispersionEstimate(value: max(1, pooled), degreesOfFreedom: dof)
        }
        // The dispersion and the penalized maximum depend on each other: alternate until they agree.
        var phi = dispersion(x)
        for _ in 0..<4 {
            x = try maximizePenalized(points, start: x, dispersion: phi.value, span: span)
            let next = dispersion(x)
            if abs(next.value - phi.value) <= 1e-6 * phi.value { break }
            phi = next
        }
        let scale = exp(x[1])
        // A drop far sharper than the spacing of the data is a step the data cannot resolve.
        guard scale.isFinite, scale > span * 1e-4, x[0].isFinite else { throw FitError.noTransition }
        let information = fisherInformation(points, midpoint: x[0], logScale: x[1])
        let det = information.a * information.b - information.ab * information.ab
        let curve = AttainmentCurve(
            midpoint: x[0], scale: scale,
            covariance: [[information.b, -information.ab], [-information.ab, information.a]].map { $0.map { $0 / det * phi.value } },
            dispersion: phi.value, dispersionDegreesOfFreedom: phi.degreesOfFreedom, points: points.count)
        guard curve.covariance.allSatisfy({ $0.allSatisfy(\.isFinite) }), curve.covariance[0][0] > 0,
              curve.covariance[1][1] > 0
        else { throw FitError.noTransition }
        return curve
    }

    /// Pearson's chi-square of `points` around the curve, with binomial variances.
    public func pearsonChiSquare(_ points: [AttainmentPoint]) -> Double {
        points.filter { $0.trials > 0 }.reduce(0.0) { sum, p in
            let mu = self(p.rate)
            let d = p.attainment - mu
            return sum + d * d * Double(p.trials) / Self.variance(mu, trials: p.trials)
        }
    }

    /// Binomial variance of a fraction, with `mu` kept half a trial away from 0 and 1: a fraction
    /// out of n cannot resolve finer, and the weight stays finite.
    static func variance(_ mu: Double, trials: Int) -> Double {
        let edge = 0.5 / Double(trials)
        let m = min(max(mu, edge), 1 - edge)
        return m * (1 - m)
    }

    /// The shape prior: ln(scale / midpoint) is normal around ln 0.07 with standard deviation 1.5, so
    /// the width of the drop relative to where it lies is between about 0.004 and 1.3 with 95 %
    /// probability: cliffs and very gentle drops alike, but not a curve that stays flat near the level
    /// over every rate probed, which few probes near the level can never exclude on their own.
    public static let shapePriorCenter = log(0.07), shapePriorSD = 1.5

    /// Binomial log-likelihood of the curve (midpoint, log scale), plus the shape prior's log density
    /// times `dispersion` (the prior of the quasi-likelihood `ll / dispersion`, scaled back).
    static func penalizedLogLikelihood(_ points: [AttainmentPoint], midpoint: Double, logScale t: Double, dispersion: Double) -> Double {
        let s = exp(t)
        var sum = 0.0
        for p in points {
            let mu = 1 / (1 + exp((p.rate - midpoint) / s))
            let m = min(max(mu, 1e-300), 1 - 1e-16)
            sum += Double(p.trials) * (p.attainment * log(m) + (1 - p.attainment) * log1p(-m))
        }
        // A midpoint at or below 0 is a curve that fails at every rate: as far from the prior as it gets.
        let z = midpoint > 0 ? (t - log(midpoint) - shapePriorCenter) / shapePriorSD : 10
        return sum - dispersion * z * z / 2
    }

    /// Binomial Fisher information of (midpoint, log scale): entries (0,0), (1,1) and (0,1).
    static func fisherInformation(_ points: [AttainmentPoint], midpoint: Double, logScale t: Double) -> (a: Double, b: Double, ab: Double) {
        let s = exp(t)
        var a = 0.0, b = 0.0, ab = 0.0
        for p in points {
            let z = (p.rate - midpoint) / s
            let mu = 1 / (1 + exp(z))
            let w = Double(p.trials) * mu * (1 - mu)
            a += w / (s * s)
            b += w * z * z
            ab += w * z / s
        }
        return (a, b, ab)
    }

    /// The maximum of `penalizedLogLikelihood` near `start`, by GSL's Nelder-Mead simplex.
    private static func maximizePenalized(_ points: [AttainmentPoint], start: [Double], dispersion: Double, span: Double) throws -> [Double] {
        _ = GSL.ready
        final class Context {
            let points: [AttainmentPoint]
            let dispersion: Double
            init(_ points: [AttainmentPoint], _ dispersion: Double) { self.points = points; self.dispersion = dispersion }
        }
        let context = Unmanaged.passRetained(Context(points, dispersion))
        defer { context.release() }
        var function = gsl_multimin_function()
        function.n = 2
        function.params = context.toOpaque()
        function.f = { x, params in
            let c = Unmanaged<Context>.fromOpaque(params!).takeUnretainedValue()
            let value = -AttainmentCurve.penalizedLogLikelihood(
                c.points, midpoint: metron_gsl_vector_get(x, 0), logScale: metron_gsl_vector_get(x, 1), dispersion: c.dispersion)
            return value.isFinite ? value : .greatestFiniteMagnitude
        }
        guard let minimizer = gsl_multimin_fminimizer_alloc(metron_gsl_multimin_nmsimplex2(), 2) else {
            throw FitError.solver("cannot allocate the simplex minimizer")
        }
        let x0 = gsl_vector_alloc(2)!, steps = gsl_vector_alloc(2)!
        defer { gsl_multimin_fminimizer_free(minimizer); gsl_vector_free(x0); gsl_vector_free(steps) }
        metron_gsl_vector_set(x0, 0, start[0])
        metron_gsl_vector_set(x0, 1, start[1])
        metron_gsl_vector_set(steps, 0, max(span * 0.05, 1e-6))
        metron_gsl_vector_set(steps, 1, 0.5)
        try GSL.check(gsl_multimin_fminimizer_set(minimizer, &function, x0, steps), "gsl_multimin_fminimizer_set")
        for _ in 0..<2000 {
            guard gsl_multimin_fminimizer_iterate(minimizer) == GSL_SUCCESS else { break }
            if gsl_multimin_test_size(gsl_multimin_fminimizer_size(minimizer), 1e-9 * max(1, span)) == GSL_SUCCESS { break }
        }
        let x = gsl_multimin_fminimizer_x(minimizer)
        return [metron_gsl_vector_get(x, 0), metron_gsl_vector_get(x, 1)]
    }

    /// Parameters handed to GSL's callbacks.
    private final class Problem {
        let rates: [Double]
        let attainment: [Double]
        init(_ points: [AttainmentPoint]) {
            rates = points.map(\.rate)
            attainment = points.map(\.attainment)
        }
    }

    /// One weighted least-squares solve from `start`; returns (midpoint, log scale).
    private static func solve(_ points: [AttainmentPoint], weights: [Double], start: [Double]) throws -> [Double] {
        _ = GSL.ready
        let n = points.count, p = 2
        let problem = Problem(points)
        let context = Unmanaged.passRetained(problem)
        defer { context.release() }

        var fdf = gsl_multifit_nlinear_fdf()
        fdf.f = { x, params, f in
            let problem = Unmanaged<Problem>.fromOpaque(params!).takeUnretainedValue()
            let r0 = metron_gsl_vector_get(x, 0), s = exp(metron_gsl_vector_get(x, 1))
            for i in problem.rates.indices {
                let mu = 1 / (1 + exp((problem.rates[i] - r0) / s))
                metron_gsl_vector_set(f, i, mu - problem.attainment[i])
            }
            return Int32(GSL_SUCCESS)
        }
        fdf.df = { x, params, J in
            let problem = Unmanaged<Problem>.fromOpaque(params!).takeUnretainedValue()
            let r0 = metron_gsl_vector_get(x, 0), s = exp(metron_gsl_vector_get(x, 1))
            for i in problem.rates.indices {
                let z = (problem.rates[i] - r0) / s
                let mu = 1 / (1 + exp(z))
                let dmu = mu * (1 - mu)
                metron_gsl_matrix_set(J, i, 0, dmu / s)
                metron_gsl_matrix_set(J, i, 1, dmu * z)
            }
            return Int32(GSL_SUCCESS)
        }
        fdf.fvv = nil
        fdf.n = n
        fdf.p = p
        fdf.params = context.toOpaque()

        var parameters = gsl_multifit_nlinear_default_parameters()
        parameters.trs = metron_gsl_nlinear_trs_lm()
        guard let workspace = gsl_multifit_nlinear_alloc(metron_gsl_nlinear_trust(), &parameters, n, p) else {
            throw FitError.solver("cannot allocate the solver")
        }
        let x0 = gsl_vector_alloc(p)!, w = gsl_vector_alloc(n)!
        defer { gsl_multifit_nlinear_free(workspace); gsl_vector_free(x0); gsl_vector_free(w) }
        for i in 0..<p { metron_gsl_vector_set(x0, i, start[i]) }
        for i in 0..<n { metron_gsl_vector_set(w, i, weights[i]) }
        try GSL.check(gsl_multifit_nlinear_winit(x0, w, &fdf, workspace), "gsl_multifit_nlinear_winit")
        var info: Int32 = 0
        let status = gsl_multifit_nlinear_driver(200, 1e-10, 1e-10, 1e-10, nil, nil, &info, workspace)
        // GSL_ENOPROG: no step reduces the cost further, which is where a converged fit stops too.
        guard status == GSL_SUCCESS || status == GSL_ENOPROG || status == GSL_EMAXITER else {
            throw FitError.solver(GSLError(status: status, routine: "gsl_multifit_nlinear_driver").description)
        }
        let position = gsl_multifit_nlinear_position(workspace)
        return (0..<p).map { metron_gsl_vector_get(position, $0) }
    }
}

extension AttainmentCurve {
    /// The curve (midpoint, log scale) alone, for evaluating it while fitting.
    fileprivate init(shape x: [Double]) {
        self.init(midpoint: x[0], scale: exp(x[1]), covariance: [], dispersion: 1, dispersionDegreesOfFreedom: 0, points: 0)
    }
}
