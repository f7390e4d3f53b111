import CGSL

/// Descriptive statistics over samples. Quantiles use linear interpolation between order statistics
/// (numpy's default), computed as numpy computes them, so that verdicts agree with the reference.
public enum Stats {
    /// The q-quantile (q in 0...1) of an already sorted sample; nil when the sample is empty.
    public static func quantile(sorted: [Double], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let (lower, t) = quantilePosition(q, count: sorted.count)
        return interpolate(sorted[lower], sorted[min(lower + 1, sorted.count - 1)], t)
    }

    /// The order statistic (0-based) below quantile q of n values, and the fraction of the way to the
    /// next one, as numpy computes them: the virtual index is `(n - 1) q`.
    public static func quantilePosition(_ q: Double, count n: Int) -> (lower: Int, fraction: Double) {
        precondition((0...1).contains(q), "quantile \(q) outside 0...1")
        precondition(n > 0, "quantile of no values")
        let virtualIndex = Double(n - 1) * q
        if virtualIndex >= Double(n - 1) { return (n - 1, 0) }
        let lower = virtualIndex.rounded(.down)
        return (Int(lower), virtualIndex - lower)
    }

    /// numpy's linear interpolation to the bit: `a + (b - a) t`, or `b - (b - a)(1 - t)` for
    /// `t >= 0.5`. Unlike GSL's `(1 - t) a + t b`, it returns a tied pair's value exactly, which
    /// decides a verdict when a percentile sits on an SLO limit.
    public static func interpolate(_ a: Double, _ b: Double, _ t: Double) -> Double {
        let difference = b - a
        return t >= 0.5 ? b - difference * (1 - t) : a + difference * t
    }

    /// The q-quantile of an unsorted sample.
    public static func quantile(_ sample: [Double], _ q: Double) -> Double? {
        quantile(sorted: sample.sorted(), q)
    }

    public static func mean(_ sample: [Double]) -> Double? {
        guard !sample.isEmpty else { return nil }
        _ = GSL.ready
        return sample.withUnsafeBufferPointer { gsl_stats_mean($0.baseAddress, 1, $0.count) }
    }

    /// Sample standard deviation (n - 1 in the denominator); nil below two values.
    public static func standardDeviation(_ sample: [Double]) -> Double? {
        guard sample.count >= 2 else { return nil }
        _ = GSL.ready
        return sample.withUnsafeBufferPointer { gsl_stats_sd($0.baseAddress, 1, $0.count) }
    }

    /// Two-sided quantile of Student's t distribution with `dof` degrees of freedom.
    public static func studentT(upperTail p: Double, dof: Double) -> Double {
        _ = GSL.ready
        return gsl_cdf_tdist_Qinv(p, dof)
    }

    /// Upper-tail quantile of the chi-square distribution with `dof` degrees of freedom.
    public static func chiSquareQuantile(upperTail p: Double, dof: Double) -> Double {
        _ = GSL.ready
        return gsl_cdf_chisq_Qinv(p, dof)
    }

    /// Upper-tail quantile of the F distribution with (`dof1`, `dof2`) degrees of freedom.
    public static func fQuantile(upperTail p: Double, dof1: Double, dof2: Double) -> Double {
        _ = GSL.ready
        return gsl_cdf_fdist_Qinv(p, dof1, dof2)
    }

    /// Inverse of the standard normal CDF at p.
    public static func normalQuantile(_ p: Double) -> Double {
        _ = GSL.ready
        return gsl_cdf_ugaussian_Pinv(p)
    }
}

/// mean, p50, p90, p99 of a sample, as reported in summaries.
public struct Distribution: Codable, Sendable, Equatable {
    public var count: Int
    public var mean: Double?
    public var min: Double?
    public var p50: Double?
    public var p90: Double?
    public var p99: Double?
    public var max: Double?

    public init(count: Int, mean: Double?, min: Double?, p50: Double?, p90: Double?, p99: Double?, max: Double?) {
        self.count = count
        self.mean = mean
        self.min = min
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.max = max
    }

    /// The reported quantiles, in the order of `p50`, `p90`, `p99`.
    public static let reportedQuantiles = [0.5, 0.9, 0.99]

    public init(_ sample: [Double]) {
        let sorted = sample.sorted()
        count = sorted.count
        mean = Stats.mean(sorted)
        min = sorted.first
        max = sorted.last
        p50 = Stats.quantile(sorted: sorted, 0.5)
        p90 = Stats.quantile(sorted: sorted, 0.9)
        p99 = Stats.quantile(sorted: sorted, 0.99)
    }
}
