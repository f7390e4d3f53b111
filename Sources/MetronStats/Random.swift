import CGSL

/// A seeded Mersenne Twister (GSL's mt19937) with the distributions workloads need.
/// Not thread-safe: one source per generator.
public final class RandomSource {
    private let rng: UnsafeMutablePointer<gsl_rng>

    public init(seed: UInt64) {
        _ = GSL.ready
        rng = gsl_rng_alloc(metron_gsl_rng_mt19937())
        gsl_rng_set(rng, UInt(truncatingIfNeeded: seed))
    }

    deinit { gsl_rng_free(rng) }

    /// Uniform on [0, 1).
    public func uniform() -> Double { gsl_rng_uniform(rng) }

    /// Uniform on (0, 1): never 0, for logarithms and inverse CDFs.
    public func uniformPositive() -> Double { gsl_rng_uniform_pos(rng) }

    /// Uniform integer in lo...hi.
    public func integer(in range: ClosedRange<Int>) -> Int {
        let span = UInt(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(gsl_rng_uniform_int(rng, span))
    }

    /// Exponential with the given rate (events per unit); GSL takes the mean.
    public func exponential(rate: Double) -> Double { gsl_ran_exponential(rng, 1 / rate) }

    /// Gamma with shape k and scale theta (mean k * theta).
    public func gamma(shape: Double, scale: Double) -> Double { gsl_ran_gamma(rng, shape, scale) }

    public func gaussian(sigma: Double) -> Double { gsl_ran_gaussian(rng, sigma) }

    /// Number of successes in `trials` independent trials of probability `p`.
    public func binomial(p: Double, trials: Int) -> Int {
        Int(gsl_ran_binomial(rng, min(max(p, 0), 1), UInt32(clamping: trials)))
    }
}
