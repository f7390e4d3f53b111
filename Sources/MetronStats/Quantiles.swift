import CGSL

/// Descriptive statistics over samples. Quantiles use linear interpolation between order statistics
/// (numpy's default), computed by GSL.
public enum Stats {
    /// The q-quantile (q in 0...1) of an already sorted sample; nil when the sample is empty.
    public static func quantile(sorted: [Double], _ q: Double) -> Double? {
        precondition((0...1).contains(q), "quantile \(q) outside 0...1")
        guard !sorted.isEmpty else { return nil }
        _ = GSL.ready
        return sorted.withUnsafeBufferPointer {
            gsl_stats_quantile_from_sorted_data($0.baseAddress, 1, $0.count, q)
        }
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
