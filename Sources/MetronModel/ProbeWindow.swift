import Foundation

/// How long each probe runs.
public struct ProbeWindow: Sendable, Equatable, Codable {
    /// Requests planned in the measurement window of a probe near capacity; nil: as many as the
    /// sweep's strictest SLO needs (`requests(forLevel:)`).
    public var requests: Int?
    /// Requests planned in the window of a bracketing probe; nil: a quarter of `requests`. Bracketing
    /// probes, far from capacity on one side or the other, only need a verdict; the fit weighs every
    /// probe by its requests.
    public var bracketRequests: Int?
    /// The window of a probe near capacity lasts at least this long, seconds (nil: as long as its
    /// requests take at the probe's rate).
    public var durationS: Double?
    /// Excluded start of each probe, seconds.
    public var warmupS: Double = 10
    /// Each rate gets its own plan (independent probes, as the interval assumes). When false, the
    /// first attempt at every rate replays the workload's own plan at that speed: steadier answers from
    /// small probes, at the price of an interval blind to that one plan's luck (docs/SEARCH.md).
    public var planPerRate = true
    /// Scrape each server's Prometheus `/metrics` during every probe over HTTP.
    public var serverMetrics = true
    /// Where; nil means the server's base URL without a trailing `/v1`, plus `/metrics`.
    public var serverMetricsURL: String?
    /// True: over HTTP, empty the server's prompt-prefix cache before every probe, so no probe
    /// inherits the one before it (probes in virtual time always start empty).
    public var resetPrefixCache: Bool?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case requests, durationS = "duration_s", warmupS = "warmup_s", planPerRate = "plan_per_rate"
        case bracketRequests = "bracket_requests", serverMetrics = "server_metrics", serverMetricsURL = "server_metrics_url"
        case resetPrefixCache = "reset_prefix_cache"
    }

    /// Requests expected beyond the percentile at the attainment level, in a probe of the default size:
    /// enough to count the tail, not to guess it from the sample's extremes.
    public static let tailRequests = 10

    /// The default size of a probe near capacity for an attainment level: `tailRequests / (1 - level)`
    /// (1,000 for a P99, 100 for a P90), and never under 100.
    public static func requests(forLevel level: Double) -> Int {
        let tail = ((1 - level) * 1e12).rounded() / 1e12
        guard tail > 0 else { return Int.max / 4 }
        return max(100, Int((Double(tailRequests) / tail).rounded(.up)))
    }

    /// Set when `requests` in a probe near capacity are too few to count the tail at the level.
    public static func tailWarning(requests: Int, level: Double, what: String) -> String? {
        let needed = Self.requests(forLevel: level)
        guard requests < needed else { return nil }
        return "\(what) \(requests) holds about " + String(format: "%.1f", Double(requests) * (1 - level))
            + " requests beyond the P\(compactNumber(level * 100)) at the level: \(needed) are needed to count that tail, "
            + "not guess it from the sample's extremes"
    }

    /// The window with its request counts settled for an attainment level (the strictest SLO's).
    public func resolved(forLevel level: Double) -> ProbeWindow {
        var w = self
        w.requests = requests ?? Self.requests(forLevel: level)
        w.bracketRequests = w.plannedRequests(bracketing: true)
        return w
    }

    /// Requests planned in a probe's window (for an unresolved window, the size of a P99's).
    public func plannedRequests(bracketing: Bool) -> Int {
        let n = requests ?? Self.requests(forLevel: 0.99)
        return bracketing ? bracketRequests ?? max(1, n / 4) : n
    }

    /// The measurement window at `rate`: long enough for the planned requests (and `durationS` near
    /// capacity), stretched so that at least `minRequests` are scheduled in it. Stretching to exactly
    /// `minRequests / rate` would leave the Poisson count short half of the time (and the probe invalid
    /// for too few requests), so that floor is `n + 4 sqrt(n)` expected arrivals: short with probability
    /// under 0.1 %.
    public func measurementS(rate: Double, minRequests: Int, bracketing: Bool = false) -> Double {
        let m = Double(minRequests)
        let floor = bracketing ? 0 : durationS ?? 0
        return max(floor, Double(plannedRequests(bracketing: bracketing)) / rate, (m + 4 * m.squareRoot()) / rate)
    }

    /// Probe time at `rate`: warm-up plus window.
    public func probeS(rate: Double, minRequests: Int, bracketing: Bool = false) -> Double {
        warmupS + measurementS(rate: rate, minRequests: minRequests, bracketing: bracketing)
    }
}
