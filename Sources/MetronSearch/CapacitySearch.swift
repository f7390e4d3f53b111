import Foundation
import MetronCore
import MetronStats

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

    public init() {}

    enum CodingKeys: String, CodingKey {
        case strategy, confidence
        case startRate = "start_rate", growthFactor = "growth_factor", relativeCIWidth = "relative_ci_width"
        case probeBudget = "probe_budget", minRate = "min_rate", maxRate = "max_rate"
        case bisectGranularity = "bisect_granularity", bisectMaxIterations = "bisect_max_iterations"
        case parallelSystems = "parallel_systems"
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
}

/// A search that stopped on a probe that could not be run. Completed probes are kept.
public struct SearchError: Error, CustomStringConvertible {
    public var request: ProbeRequest
    public var underlying: any Error
    public var completed: [ProbeResult]
    public var description: String {
        "probe at \(String(format: "%.3f", request.rate)) req/s could not be run: \(underlying)"
            + " (\(completed.count) completed probe\(completed.count == 1 ? "" : "s") kept)"
    }
}

/// The client could not keep to its schedule at this rate, attempt after attempt: its measurements
/// say nothing about the server.
public struct ClientUnhealthy: Error, CustomStringConvertible {
    public var attempts: Int
    public var worstS: Double
    public var thresholdS: Double
    /// The last attempt's client faults, when it had any.
    public var fault: String?
    public var description: String {
        if let fault {
            return "the client failed requests itself in \(attempts) attempts (\(fault)): raise the open-files limit "
                + "(ulimit -n), free memory or local ports, or lower the rate"
        }
        return String(format: "the client fell behind its schedule in %d attempts (P99 lag or timer lateness %.1f ms, threshold %.1f ms): "
            + "run on a quieter machine, with --realtime, or raise lag_threshold_s", attempts, worstS * 1000, thresholdS * 1000)
    }
}

/// Every request of a probe failed to connect.
public struct ServerUnreachable: Error, CustomStringConvertible {
    public var requests: Int
    public var detail: String
    public var description: String { "the server is unreachable: all \(requests) requests failed to connect\(detail)" }
}

/// The answer of a search.
public struct CapacityEstimate: Sendable, Equatable {
    /// Maximum sustainable requests per second; nil when no probe passed.
    public var maxQPS: Double?
    public var ciLow: Double?
    public var ciHigh: Double?
    public var method: IntervalMethod
    public var curve: AttainmentCurve?
    /// The data do not bound the interval from above: `ciHigh` is only the limit the search looked to.
    public var upperUnbounded = false
    /// Where a fitted curve crosses the level even when that lies outside the probed range (then it
    /// is not the answer, only a direction for the next probe).
    var curveCrossing: Double?

    public var relativeWidth: Double? {
        guard let q = maxQPS, q > 0, let lo = ciLow, let hi = ciHigh else { return nil }
        return (hi - lo) / q
    }
}

/// A capacity search against any probe runner. Deterministic given the probes' results, so a
/// rerun over a probe cache repeats the same probes and finds them all cached.
public struct CapacitySearch: Sendable {
    public var runner: any ProbeRunner
    public var slo: SLO
    public var rules: ValidityRules
    public var settings: SearchSettings

    public init(runner: any ProbeRunner, slo: SLO, rules: ValidityRules = ValidityRules(), settings: SearchSettings = SearchSettings()) {
        self.runner = runner
        self.slo = slo
        self.rules = rules
        self.settings = settings
    }

    public func run(progress: @escaping @Sendable (ProbeResult) -> Void = { _ in }) async throws -> CapacityResult {
        var state = State(search: self, progress: progress)
        let stop: StopReason
        switch settings.strategy {
        case .fitted: stop = try await state.fitted()
        case .bisect: stop = try await state.bisect()
        }
        return state.result(stop: stop)
    }

    /// The probes so far and the running estimate.
    struct State {
        let search: CapacitySearch
        let progress: @Sendable (ProbeResult) -> Void
        var probes: [ProbeResult] = []
        /// Probes whose client fell behind: kept for the record, left out of every verdict and fit.
        var clientFailures: [ProbeResult] = []
        var bisectBest: Double?
        /// Repeats of a probe whose client fell behind before the search gives up.
        static let clientRetries = 2
        /// Degrees of freedom of the dispersion below which the search does not call its interval
        /// converged.
        static let minimumDispersionDegreesOfFreedom = 4

        init(search: CapacitySearch, progress: @escaping @Sendable (ProbeResult) -> Void) {
            self.search = search
            self.progress = progress
        }

        var settings: SearchSettings { search.settings }
        var budgetLeft: Bool { probes.count < settings.probeBudget }

        /// Runs a probe at `rate`. A probe whose client fell behind is measured again (an overloaded
        /// client is not an overloaded server); the search stops if the client never keeps up.
        mutating func run(_ rate: Double, bracketing: Bool = false) async throws -> ProbeResult {
            let rounded = ProbeRequest.round(rate)
            while true {
                let attempt = (probes + clientFailures).filter { $0.rate == rounded }.count
                let request = ProbeRequest(rate: rounded, attempt: attempt, bracketing: bracketing)
                let measurement: ProbeMeasurement
                do {
                    measurement = try await search.runner.probe(request)
                } catch {
                    throw SearchError(request: request, underlying: error, completed: probes)
                }
                if measurement.serverUnreachable {
                    let sample = measurement.windowRecords.first?.error.map { ": \($0)" } ?? ""
                    throw SearchError(request: request, underlying: ServerUnreachable(
                        requests: measurement.windowRecords.count, detail: sample), completed: probes)
                }
                var result = ProbeResult(measurement, slo: search.slo, rules: search.rules)
                result.request = request
                progress(result)
                // Lag under a cap on requests in flight is the server's backlog; uncapped, it is the client's.
                // Requests the client failed itself are its own fault either way.
                if result.client.trustworthy || (measurement.maxInFlight != nil && result.client.faults.requests == 0) {
                    probes.append(result)
                    return result
                }
                clientFailures.append(result)
                let failures = clientFailures.filter { $0.rate == rounded }
                if failures.count > Self.clientRetries {
                    throw SearchError(request: request, underlying: ClientUnhealthy(
                        attempts: failures.count, worstS: result.client.worstS, thresholdS: result.client.thresholdS,
                        fault: result.client.faults.reason),
                        completed: probes)
                }
            }
        }

        /// The highest passing rate and the lowest failing rate above it. A failure below a pass is
        /// noise or a bad probe and does not move the bracket (the fitted curve still sees it).
        var bracket: (pass: Double?, fail: Double?) {
            let pass = probes.filter(\.passed).map(\.rate).max()
            let fail = probes.filter { !$0.passed && $0.rate > (pass ?? 0) }.map(\.rate).min()
            return (pass, fail)
        }

        // MARK: fitted

        mutating func fitted() async throws -> StopReason {
            var rate = min(max(settings.startRate, settings.minRate), settings.maxRate)
            var result = try await run(rate, bracketing: true)
            // Bracket with short probes: grow until a failure, or shrink until a pass.
            if result.passed {
                while result.passed {
                    guard rate < settings.maxRate else { return .aboveMaxRate }
                    guard budgetLeft else { return .budgetSpent }
                    rate = min(rate * settings.growthFactor, settings.maxRate)
                    result = try await run(rate, bracketing: true)
                }
            } else {
                while !result.passed {
                    guard rate > settings.minRate else { return .belowMinRate }
                    guard budgetLeft else { return .budgetSpent }
                    rate = max(rate / settings.growthFactor, settings.minRate)
                    result = try await run(rate, bracketing: true)
                }
            }
            // Refine where the fitted curve crosses the attainment level.
            while true {
                let estimate = self.estimate()
                // Converged when the interval is narrow enough, rests on probes inside it (not only on
                // the curve's shape between distant probes), has a failed probe above it (the drop was
                // measured, not extrapolated from one unlucky probe), and on a spread between probes
                // measured with a few degrees of freedom: a handful of probes that happen to agree says
                // little about how much the next one may differ.
                if let width = estimate.relativeWidth, estimate.method == .logisticProfile, width <= settings.relativeCIWidth,
                   let lo = estimate.ciLow, let hi = estimate.ciHigh,
                   probes.filter({ (lo...hi).contains($0.rate) }).count >= 2,
                   (estimate.curve?.dispersionDegreesOfFreedom ?? 0) >= Self.minimumDispersionDegreesOfFreedom,
                   failed(above: hi) {
                    return .converged
                }
                // A step: no curve, a bracket narrower than asked, and two probes above it failed as well.
                let (pass, fail) = bracket
                if estimate.method == .bracket, estimate.curveCrossing == nil, let p = pass, let f = fail,
                   (f - p) / p <= settings.relativeCIWidth,
                   probes.filter({ $0.rate > f * 1.001 && !$0.passed }).count >= 2 {
                    return .bracketWithinWidth
                }
                guard budgetLeft else { return .budgetSpent }
                _ = try await run(nextRate(estimate))
            }
        }

        /// The fitted boundary, while the fit knows more than the bracket; otherwise the geometric
        /// middle of the bracket. When a probe already sits at the boundary, step a quarter interval to
        /// alternate sides (spread around the boundary pins the curve's slope, and keeps probes inside
        /// the interval).
        func nextRate(_ estimate: CapacityEstimate) -> Double {
            let (pass, fail) = bracket
            // Keep a bracket first: a pass above every failure (or no pass at all) means bracketing again.
            guard let p = pass else { return max((fail ?? settings.startRate) / settings.growthFactor, settings.minRate) }
            guard let f = fail else { return min(p * settings.growthFactor, settings.maxRate) }
            let middle = (p * f).squareRoot()
            // A bracket already narrower than the interval asked for: bisecting it further only
            // splits noise around the boundary.
            let narrow = (f - p) / p < settings.relativeCIWidth / 2
            guard estimate.method == .logisticProfile, let q = estimate.maxQPS, let lo = estimate.ciLow,
                  let hi = estimate.ciHigh
            else {
                // The curve crosses outside its probes but inside the bracket (a gentle drop that lucky
                // passes hid): go and look there.
                if let c = estimate.curveCrossing, c > p / settings.growthFactor, c < f {
                    return max(c, settings.minRate)
                }
                // No curve yet: the probes sit on either side of a noisy boundary with nothing on the
                // drop. Probe just outside the bracket, above and below in turn.
                guard narrow else { return middle }
                let step = settings.relativeCIWidth / 2
                return probes.count % 2 == 0 ? min(f * (1 + step), settings.maxRate) : max(p * (1 - step), settings.minRate)
            }
            guard hi - lo <= f - p || narrow else { return middle }
            // No failure above the interval yet: look just beyond it, but no further than one growth step
            // above the lowest failure, and only once that far: when the interval reaches past that (a
            // narrow, noisy bracket), probes further up teach nothing about the crossing, probes around it do.
            if !failed(above: hi) {
                let next = min(hi + (hi - lo) / 2, f * settings.growthFactor, settings.maxRate)
                if !probes.contains(where: { !$0.passed && $0.rate >= next * 0.999 }) { return next }
            }
            // On the fitted boundary; if a probe is already there, a quarter interval to alternate sides.
            var next = q
            if probes.contains(where: { abs($0.rate - q) <= max((hi - lo) / 8, 0.001 * q) }) {
                let step = min(max((hi - lo) / 4, 0.002 * q), 0.1 * q)
                next = probes.count % 2 == 0 ? q + step : q - step
            }
            return min(max(next, p / settings.growthFactor, settings.minRate), f * settings.growthFactor, settings.maxRate)
        }

        func estimate() -> CapacityEstimate {
            let level = search.slo.attainmentLevel
            let (points, dispersion) = fitPoints()
            let rates = points.map(\.rate)
            var crossing: Double?
            if let curve = try? AttainmentCurve.fit(points, dispersionFloor: dispersion), let low = rates.min(), let high = rates.max() {
                let q = curve.rate(atAttainment: level)
                crossing = q.isFinite ? q : nil
                // Trust the curve only among its probes: beyond them the logistic is a guess.
                let limit = high * settings.growthFactor
                if q > 0, q >= low, q <= high,
                   let ci = curve.profileInterval(atAttainment: level, confidence: settings.confidence, points: points,
                                                  limits: 0...limit) {
                    return CapacityEstimate(maxQPS: q, ciLow: ci.lowerBound, ciHigh: ci.upperBound, method: .logisticProfile, curve: curve,
                                            upperUnbounded: ci.upperBound >= limit)
                }
            }
            let (pass, fail) = bracket
            return CapacityEstimate(maxQPS: pass, ciLow: pass, ciHigh: fail, method: .bracket, curve: nil, curveCrossing: crossing)
        }

        func failed(above rate: Double) -> Bool { probes.contains { $0.rate > rate && !$0.passed } }

        /// The probes the curve is fitted to, and the dispersion their episodes of misses show.
        ///
        /// All probes when one logistic fits them all within that dispersion (a lack-of-fit test at
        /// the 5 % level). Otherwise only the probes up to the highest rate where one is still near the
        /// level (missing at most ten times the SLO's allowance: attainment 0.9 and up for a P99): a
        /// logistic has one shape for its whole drop, and a real drop is often steeper below than near
        /// the top, so probes deep in it (bracketing leaves them, precise and far from capacity) would
        /// set the shape near the level and make the interval far too confident. They still bound the
        /// bracket. A poor probe among the near ones stays in: it is what the spread between probes is
        /// made of.
        ///
        /// The dispersion comes from the near probes' episodes; when those give too few degrees of
        /// freedom, from every valid probe missing at most a quarter of its requests: episodes are larger
        /// deeper in the drop, so the interval errs on the wide side rather than trusting a binomial
        /// count (a collapsed probe, one long episode, would say nothing about the level).
        func fitPoints() -> ([AttainmentPoint], AttainmentCurve.DispersionEstimate?) {
            let floor = Self.fitFloor(level: search.slo.attainmentLevel)
            let highestNearLevel = probes.filter { $0.attainmentPoint.attainment >= floor }.map(\.rate).max() ?? 0
            let near = probes.filter { $0.rate <= highestNearLevel }
            var dispersion = Self.episodeDispersion(near)
            if (dispersion?.degreesOfFreedom ?? 0) < Self.minimumDispersionDegreesOfFreedom {
                dispersion = Self.episodeDispersion(probes.filter { $0.valid && $0.attainmentPoint.attainment >= 0.75 })
                    ?? dispersion
            }
            let all = probes.map(\.attainmentPoint)
            if near.count < probes.count, Set(all.map(\.rate)).count > 2,
               let whole = try? AttainmentCurve.fit(all, dispersionFloor: dispersion),
               whole.pearsonChiSquare(all) / max(dispersion?.value ?? 1, 1)
                   <= Stats.chiSquareQuantile(upperTail: 0.05, dof: Double(all.count - 2)) {
                return (all, dispersion)
            }
            return (near.map(\.attainmentPoint), dispersion)
        }

        static func fitFloor(level: Double) -> Double { max(0, 1 - 10 * (1 - level)) }

        /// How much probes should disagree, from the episodes of misses inside them: when misses come
        /// in episodes of sizes S, a probe's count of misses varies E[S^2] / E[S] times more than a
        /// binomial count (compound Poisson). Pooled over the probes, it needs no repeated probes and
        /// sees bursts that a handful of agreeing probes would hide. Its degrees of freedom are at most
        /// the probes with misses: the episodes of one probe share its luck (a calm arrival pattern gives
        /// few misses and small episodes). Nil without misses.
        static func episodeDispersion(_ probes: [ProbeResult]) -> AttainmentCurve.DispersionEstimate? {
            let sizes = probes.flatMap(\.slo.missEpisodes)
            let total = sizes.reduce(0, +)
            guard total > 0 else { return nil }
            let probesWithMisses = probes.filter { !$0.slo.missEpisodes.isEmpty }.count
            return .init(value: sizes.reduce(0) { $0 + $1 * $1 } / total,
                         degreesOfFreedom: max(1, min(sizes.count - 1, probesWithMisses)))
        }

        // MARK: result (bisect: Bisection.swift)

        func result(stop: StopReason) -> CapacityResult {
            let estimate: CapacityEstimate
            switch settings.strategy {
            case .fitted:
                estimate = self.estimate()
            case .bisect:
                let fail = probes.filter { !$0.passed && $0.rate > (bisectBest ?? 0) }.map(\.rate).min()
                estimate = CapacityEstimate(maxQPS: bisectBest, ciLow: bisectBest, ciHigh: fail, method: .bracket, curve: nil)
            }
            var warnings: [String] = []
            if stop == .aboveMaxRate {
                warnings.append("every probe passed up to the maximum rate: capacity is at least \(String(format: "%.3f", settings.maxRate)) req/s")
            }
            if stop == .belowMinRate { warnings.append("the SLO failed even at the minimum rate") }
            if settings.strategy == .fitted, estimate.method == .bracket {
                warnings.append("the attainment curve could not be fitted inside the probed range; the interval is the bracket between probes")
            }
            if probes.contains(where: { $0.requests < 100 }) {
                warnings.append("some probes have fewer than 100 requests: their P99 figures are close to the sample's extremes")
            }
            if !clientFailures.isEmpty {
                let faulted = clientFailures.filter { $0.client.faults.requests > 0 }.count
                let cause = faulted == 0 ? "the client fell behind its schedule"
                    : faulted == clientFailures.count ? "the client failed requests itself (client faults)"
                    : "the client fell behind its schedule or failed requests itself"
                warnings.append("\(clientFailures.count) probe(s) were measured again because \(cause); they are listed as invalid and take no part in the estimate")
            }
            if probes.contains(where: \.simulated) {
                warnings.append("SIMULATED: measured in virtual time against the serving model, not a real server")
            }
            return CapacityResult(
                estimate: estimate, slo: search.slo, settings: settings, rules: search.rules, stopReason: stop,
                probes: probes + clientFailures, outputTokensPerS: estimate.maxQPS.flatMap { tokensPerSecond(at: $0) }, warnings: warnings)
        }

        /// Output tokens/s at `rate`, interpolated linearly between valid probes; outside them, the
        /// nearest probe scaled by rate (tokens per request hardly depend on rate).
        func tokensPerSecond(at rate: Double) -> Double? {
            let points = probes.filter { $0.valid && $0.outputTokensPerS > 0 }.map { ($0.rate, $0.outputTokensPerS) }
                .sorted { $0.0 < $1.0 }
            guard let first = points.first, let last = points.last else { return nil }
            if rate <= first.0 { return first.1 * rate / first.0 }
            if rate >= last.0 { return last.1 * rate / last.0 }
            for (a, b) in zip(points, points.dropFirst()) where rate >= a.0 && rate <= b.0 {
                if b.0 == a.0 { return (a.1 + b.1) / 2 }
                return a.1 + (b.1 - a.1) * (rate - a.0) / (b.0 - a.0)
            }
            return nil
        }
    }
}
