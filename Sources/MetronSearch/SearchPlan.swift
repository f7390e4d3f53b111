import Foundation
import MetronModel

/// What a search will cost before it starts: probe sizes follow from the SLO's percentile, so a P99
/// at a low rate means long probes. Said up front, with what a looser percentile or a wider interval
/// would cost instead.
public struct SearchPlan: Sendable, Equatable {
    public var settings: SearchSettings
    public var window: ProbeWindow
    public var minRequests: Int
    /// The strictest attainment level the probes are sized for (0.99 for a P99).
    public var level: Double

    /// Requests per unit of the search's rate: turns per session with sessions, else 1.
    public var requestsPerArrival: Double

    public init(settings: SearchSettings, window: ProbeWindow, minRequests: Int, level: Double, requestsPerArrival: Double = 1) {
        self.requestsPerArrival = requestsPerArrival
        self.settings = settings
        self.window = window
        self.minRequests = minRequests
        self.level = level
    }

    /// Probe time of the whole budget if every probe ran near `rate` at full size: an upper figure,
    /// since bracketing probes are shorter.
    public func totalS(at rate: Double, window: ProbeWindow? = nil, budget: Int? = nil) -> Double {
        let w = window ?? self.window
        let probes = settings.strategy == .fitted ? budget ?? settings.probeBudget : settings.bisectMaxIterations
        return Double(probes) * w.probeS(rate: rate * requestsPerArrival, minRequests: minRequests)
    }

    /// The lines printed before the first probe.
    public var lines: [String] {
        let rate = settings.startRate, requestRate = rate * requestsPerArrival
        // What the windows hold at that rate: the planned requests, or more where min_requests or
        // duration_s stretch them.
        let held = { (bracketing: Bool) in
            Int((window.measurementS(rate: requestRate, minRequests: minRequests, bracketing: bracketing) * requestRate).rounded())
        }
        let near = held(false), bracketing = held(true)
        let percentile = compactNumber(level * 100)
        var lines = [
            "probes of \(near) requests near capacity (\(bracketing) when bracketing), about "
                + String(format: "%.0f", Double(near) * (1 - level)) + " of them beyond the P\(percentile) at the level; "
                + "at about \(compactNumber(rate)) \(requestsPerArrival == 1 ? "req/s" : "sessions/s") one probe takes "
                + "\(Self.duration(window.probeS(rate: requestRate, minRequests: minRequests))), "
                + (settings.strategy == .fitted ? "up to \(settings.probeBudget) probes" : "up to \(settings.bisectMaxIterations) bisection steps")
                + " about \(Self.duration(totalS(at: rate))) in all",
        ]
        var alternatives: [String] = []
        if level > 0.9 + 1e-9, window.requests == ProbeWindow.requests(forLevel: level) {
            var w = window
            w.requests = nil
            w.bracketRequests = nil
            w = w.resolved(forLevel: 0.9)
            alternatives.append("a P90 SLO needs \(w.plannedRequests(bracketing: false)) requests a probe "
                + "(about \(Self.duration(totalS(at: rate, window: w))))")
        }
        if settings.strategy == .fitted, settings.probeBudget > 6 {
            alternatives.append("probe_budget 6 (a wider interval) about \(Self.duration(totalS(at: rate, budget: 6)))")
        }
        if !alternatives.isEmpty { lines.append("instead: " + alternatives.joined(separator: "; ")) }
        if let warning { lines.append("warning: " + warning) }
        return lines
    }

    /// Set when probes near capacity are too small to count the tail at the level.
    public var warning: String? {
        ProbeWindow.tailWarning(requests: window.plannedRequests(bracketing: false), level: level, what: "probe.requests")
    }

    /// "45 s", "12 min", "2.5 h".
    static func duration(_ s: Double) -> String {
        if s < 90 { return String(format: "%.0f s", s) }
        if s < 5400 { return String(format: "%.0f min", s / 60) }
        return String(format: "%.1f h", s / 3600)
    }
}
