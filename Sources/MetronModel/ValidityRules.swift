import Foundation

/// When a probe's measurement can be trusted.
public struct ValidityRules: Sendable, Equatable, Codable {
    /// Sending fidelity: the client's sending rate over the window may differ from the plan's own
    /// rate by at most this fraction, and at most this fraction of the planned requests may go unsent.
    /// The plan's Poisson noise around the target rate is not a fault: the fit uses the load each
    /// probe offered.
    public var rateTolerance: Double = 0.01
    /// Fewer requests than this cannot support the SLO's percentile.
    public var minRequests: Int = 100
    /// Client lag or timer lateness (P99) above this makes the client untrustworthy, seconds.
    public var lagThresholdS: Double = RunSummary.defaultLagThreshold
    /// Runaway backlog: TTFT rising over the window by more than this multiple of the median TTFT...
    public var maxTTFTRise: Double = 1.0
    /// ...and by more than this many seconds (so that tiny TTFTs do not trip it on noise).
    public var ttftRiseFloorS: Double = 0.25
    /// Requests still running this long after the window's end count as outstanding.
    public var drainGraceS: Double = 30
    /// Runaway backlog: more than this fraction of requests outstanding.
    public var maxOutstandingFraction: Double = 0.01

    public init() {}

    enum CodingKeys: String, CodingKey {
        case rateTolerance = "rate_tolerance", minRequests = "min_requests", lagThresholdS = "lag_threshold_s"
        case maxTTFTRise = "max_ttft_rise", ttftRiseFloorS = "ttft_rise_floor_s", drainGraceS = "drain_grace_s"
        case maxOutstandingFraction = "max_outstanding_fraction"
    }
}
