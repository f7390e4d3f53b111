import Foundation
import MetronModel
import MetronStats

/// Two systems measured on the same plans at one rate between their capacities, and their capacity
/// ratio from the differences plan by plan.
///
/// A plan's luck (a burst of arrivals, a run of long prompts) moves both systems' attainment the same
/// way, so the difference between them on one plan scatters far less than either does. If the second
/// system is the first slowed down by a factor rho (`a2(r) = a1(rho r)`), the logistic curves give
/// `logit a1(r) - logit a2(r) = (rho - 1) r / s1` at any rate `r`, with `s1` the first curve's width:
/// each plan's logit difference is a measurement of `rho - 1`, and their Student t interval over the
/// plans, scaled by the width (within its own interval), is the ratio's. It excludes 1 exactly when
/// the mean logit difference is told apart from 0: the width scales the ratio, never the claim.
public struct PairedComparison: Sendable, Equatable, Codable {
    /// Where both were probed: the geometric mean of their capacities.
    public var rate: Double
    /// Each plan's attainment on the first system (ranked higher), and on the second.
    public var first: [AttainmentPoint]
    public var second: [AttainmentPoint]
    public var confidence: Double
    /// First over second; nil without a test.
    public var ratio: Double?
    public var ciLow: Double?
    public var ciHigh: Double?
    /// true: the ratio's interval lies above 1; false: it contains 1 (or lies below: then the two
    /// disagree with their own ranking, and no difference is claimed either way); nil: no test.
    public var higher: Bool?
    /// Why there is no test, when there is none.
    public var noTest: String?

    enum CodingKeys: String, CodingKey {
        case rate, first, second, confidence, ratio, higher
        case ciLow = "ci_low", ciHigh = "ci_high", noTest = "no_test"
    }

    /// Probes per system when a sweep compares two systems on shared plans.
    public static let defaultPlans = 6

    public init(rate: Double, first: [AttainmentPoint], second: [AttainmentPoint], firstCurve: AttainmentCurve?, confidence: Double) {
        precondition(first.count == second.count, "one attainment per plan on each system")
        self.rate = rate
        self.first = first
        self.second = second
        self.confidence = confidence
        let differences = zip(first, second).map { Self.logit($0) - Self.logit($1) }
        guard differences.count >= 2 else {
            noTest = "fewer than two shared plans"
            return
        }
        guard let curve = firstCurve, curve.scale > 0, rate > 0 else {
            noTest = "no fitted curve to scale the difference by"
            return
        }
        let mean = Stats.mean(differences) ?? 0, sd = Stats.standardDeviation(differences) ?? 0
        // Every plan gave the same difference (most often none, at the probes' resolution): nothing says
        // how much another plan would differ.
        guard sd > 0 else {
            noTest = "every shared plan gave the same difference: no scatter to judge it by"
            return
        }
        let t = Stats.studentT(upperTail: (1 - confidence) / 2, dof: Double(differences.count - 1))
        let half = t * sd / Double(differences.count).squareRoot()
        // The curve's width is known only so well: each end of the interval takes the width, within
        // its own interval, that moves it outwards.
        let z = Stats.normalQuantile(1 - (1 - confidence) / 2)
        let spread = exp(z * max(0, curve.covariance[1][1]).squareRoot())
        let (narrow, wide) = (curve.scale / spread / rate, curve.scale * spread / rate)
        let (low, high) = (mean - half, mean + half)
        ratio = 1 + mean * curve.scale / rate
        ciLow = 1 + low * (low >= 0 ? narrow : wide)
        ciHigh = 1 + high * (high >= 0 ? wide : narrow)
        higher = low > 0
    }

    /// The logit of a probe's attainment, half a request from 0 and 1 so that a probe without a miss
    /// (or without a success) stays finite.
    static func logit(_ p: AttainmentPoint) -> Double {
        let n = Double(p.trials)
        let a = (p.attainment * n + 0.5) / (n + 1)
        return log(a / (1 - a))
    }

    /// One system as a comparison sees it: how to probe it, its search, and its SLO.
    public struct Side: Sendable {
        public var runner: any ProbeRunner
        public var result: CapacityResult
        public var slo: SLO

        public init(runner: any ProbeRunner, result: CapacityResult, slo: SLO) {
            self.runner = runner
            self.result = result
            self.slo = slo
        }
    }

    /// Probes both systems at the geometric mean of their capacities on the same `plans` plans (the
    /// attempts after any either search made at that rate), and compares them. A plan that the client
    /// could not send faithfully to either system is left out for both, so the rest stay paired. Nil
    /// unless both searches gave a capacity. `together`: both systems probe each plan at the same time,
    /// where one client machine may drive two systems at once; otherwise one after the other.
    public static func measure(_ first: Side, _ second: Side, rules: ValidityRules, plans: Int = defaultPlans,
                               together: Bool = false) async throws -> PairedComparison? {
        guard let q1 = first.result.maxQPS, let q2 = second.result.maxQPS, q1 > 0, q2 > 0 else { return nil }
        let rate = ProbeRequest.round((q1 * q2).squareRoot())
        let taken = (first.result.probes + second.result.probes).filter { $0.rate == rate }.map { $0.attempt + 1 }.max() ?? 0
        var points: ([AttainmentPoint], [AttainmentPoint]) = ([], [])
        for attempt in taken..<(taken + plans) {
            let request = ProbeRequest(rate: rate, attempt: attempt)
            let measured: (ProbeMeasurement, ProbeMeasurement)
            if together {
                async let a = first.runner.probe(request)
                async let b = second.runner.probe(request)
                measured = try await (a, b)
            } else {
                measured = (try await first.runner.probe(request), try await second.runner.probe(request))
            }
            let a = ProbeResult(measured.0, slo: first.slo, rules: rules)
            let b = ProbeResult(measured.1, slo: second.slo, rules: rules)
            guard a.client.trustworthy, b.client.trustworthy else { continue }
            points.0.append(a.attainmentPoint)
            points.1.append(b.attainmentPoint)
        }
        return PairedComparison(rate: rate, first: points.0, second: points.1, firstCurve: first.result.curve,
                                confidence: first.result.confidence)
    }
}

/// A sweep's paired comparison of a system with the next one down its ranking, kept in the first
/// system's `capacity.json`.
public struct PairedWithNext: Sendable, Equatable, Codable {
    /// The next system down the ranking.
    public var system: String
    public var comparison: PairedComparison

    public init(system: String, comparison: PairedComparison) {
        self.system = system
        self.comparison = comparison
    }
}
