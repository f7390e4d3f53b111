import Foundation

public enum SearchStrategy: String, Sendable, Codable, CaseIterable {
    /// Bracket, then place probes where a fitted attainment curve puts the SLO boundary.
    case fitted
    /// The reference's bisection on QPS, for comparison.
    case bisect
}

public struct SearchSettings: Sendable, Equatable, Codable {
    public var strategy: SearchStrategy = .fitted
    /// First probe's rate, requests per second.
    public var startRate: Double = 1
    /// Bracketing multiplies (or divides) the rate by this until the verdict flips.
    public var growthFactor: Double = 2
    /// Stop when (ci_high - ci_low) / max_qps is at most this.
    public var relativeCIWidth: Double = 0.1
    public var confidence: Double = 0.95
    /// At most this many probes (cached ones included).
    public var probeBudget: Int = 12
    /// Bracketing never goes below or above these rates.
    public var minRate: Double = 0.01
    public var maxRate: Double = 10_000
    /// Bisection stops when the next rate moves less than this fraction.
    public var bisectGranularity: Double = 0.025
    public var bisectMaxIterations: Int = 20
    /// A sweep runs at most this many systems' searches at once (nil: all of them).
    public var parallelSystems: Int?
    /// Plans on which a sweep probes each two systems next to each other in its ranking, for their
    /// paired capacity ratio (`PairedComparison`); 0: the ranking compares their intervals only.
    public var pairedPlans: Int = PairedComparison.defaultPlans

    public init() {}

    enum CodingKeys: String, CodingKey {
        case strategy, confidence
        case startRate = "start_rate", growthFactor = "growth_factor", relativeCIWidth = "relative_ci_width"
        case probeBudget = "probe_budget", minRate = "min_rate", maxRate = "max_rate"
        case bisectGranularity = "bisect_granularity", bisectMaxIterations = "bisect_max_iterations"
        case parallelSystems = "parallel_systems", pairedPlans = "paired_plans"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        strategy = try c.decode(SearchStrategy.self, forKey: .strategy)
        confidence = try c.decode(Double.self, forKey: .confidence)
        startRate = try c.decode(Double.self, forKey: .startRate)
        growthFactor = try c.decode(Double.self, forKey: .growthFactor)
        relativeCIWidth = try c.decode(Double.self, forKey: .relativeCIWidth)
        probeBudget = try c.decode(Int.self, forKey: .probeBudget)
        minRate = try c.decode(Double.self, forKey: .minRate)
        maxRate = try c.decode(Double.self, forKey: .maxRate)
        bisectGranularity = try c.decode(Double.self, forKey: .bisectGranularity)
        bisectMaxIterations = try c.decode(Int.self, forKey: .bisectMaxIterations)
        parallelSystems = try c.decodeIfPresent(Int.self, forKey: .parallelSystems)
        // Results written before paired comparisons existed compared intervals only.
        pairedPlans = try c.decodeIfPresent(Int.self, forKey: .pairedPlans) ?? 0
    }
}

/// Why the search stopped.
public enum StopReason: String, Sendable, Codable {
    case converged = "interval_within_requested_width"
    case budgetSpent = "probe_budget_spent"
    case aboveMaxRate = "passes_at_max_rate"
    case belowMinRate = "fails_at_min_rate"
    case bisectGranularity = "bisect_granularity_reached"
    case bisectMaxIterations = "bisect_max_iterations_reached"
    /// No curve fits (a step-like drop), but the bracket between a pass and a failure is already
    /// narrower than the requested width, and probes above it failed too.
    case bracketWithinWidth = "bracket_within_requested_width"
}

/// How the interval was obtained.
public enum IntervalMethod: String, Sendable, Codable {
    /// Profile likelihood of the fitted logistic (quasi-binomial: deviance scaled by the dispersion).
    case logisticProfile = "logistic_fit_profile_likelihood"
    /// Between the highest passing probe and the lowest failing probe above it; not a statistical
    /// interval (used by bisection, and when the curve cannot be fitted).
    case bracket = "bracket_between_probes"
    /// No estimate: where the capacity lies at the confidence level, by the fitted curve's interval on
    /// the side it bounds and by the probes whose verdicts are clear of their noise; either end may be open.
    case settledRange = "settled_range"
}
