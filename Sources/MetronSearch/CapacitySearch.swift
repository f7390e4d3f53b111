import Foundation
import MetronModel
import MetronStats

/// The answer of a search.
public struct CapacityEstimate: Sendable, Equatable {
    /// Maximum sustainable requests per second; nil when no probe passed.
    public var maxQPS: Double?
    public var ciLow: Double?
    public var ciHigh: Double?
    public var method: IntervalMethod
    public var curve: AttainmentCurve?
    /// Why the data do not pin the capacity down, when they do not: then there is no estimate, and
    /// `ciLow` and `ciHigh` are where the capacity lies at the confidence level, nil on a side nothing
    /// bounds.
    public var undetermined: String?
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
            let attempt = probes.filter { $0.rate == rounded }.count
            // A retry replays the same plan: the client's trouble is not the server's luck, and every
            // system of a sweep keeps seeing the same plans.
            for retry in 0...Self.clientRetries {
                let request = ProbeRequest(rate: rounded, attempt: attempt, retry: retry, bracketing: bracketing)
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
                if result.client.trustworthy || (measurement.maxInFlight != nil && result.client.failedRequests == 0) {
                    probes.append(result)
                    return result
                }
                clientFailures.append(result)
                if retry == Self.clientRetries {
                    throw SearchError(request: request, underlying: ClientUnhealthy(
                        attempts: retry + 1, worstS: result.client.worstS, thresholdS: result.client.lagThresholdS,
                        fault: result.client.faults?.reason),
                        completed: probes)
                }
            }
            preconditionFailure("the last retry returns or throws")
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
            var narrowBefore = false
            while true {
                let estimate = self.estimate()
                // Converged when the interval is narrow enough, rests on probes inside it (not only on
                // the curve's shape between distant probes) and has a failed probe above it (the drop was
                // measured, not extrapolated from one unlucky probe), and was so before the last probe
                // too. The interval's width already pays for how little the scatter between probes is
                // known, but stopping at the first narrow one picks the moments when the probes happen
                // to agree: one more probe near the boundary must leave it narrow.
                let narrow = isNarrow(estimate)
                if narrow && narrowBefore { return .converged }
                narrowBefore = narrow
                // A step: no curve, a bracket narrower than asked, two probes above it failed as well, and
                // its pass held on a second plan (on a cliff, one plan's luck decides a single probe).
                let (pass, fail) = bracket
                if estimate.method == .bracket, estimate.curveCrossing == nil, let p = pass, let f = fail,
                   (f - p) / p <= settings.relativeCIWidth, passesReplicated(at: p),
                   probes.filter({ $0.rate > f * 1.001 && !$0.passed }).count >= 2 {
                    return .bracketWithinWidth
                }
                guard budgetLeft else { return .budgetSpent }
                _ = try await run(nextRate(estimate))
            }
        }

        /// The fitted interval is as narrow as asked, with at least two probes inside it and a failure
        /// above it.
        func isNarrow(_ estimate: CapacityEstimate) -> Bool {
            guard estimate.method == .logisticProfile, let width = estimate.relativeWidth, width <= settings.relativeCIWidth,
                  let lo = estimate.ciLow, let hi = estimate.ciHigh
            else { return false }
            return probes.filter { (lo...hi).contains($0.attainmentPoint.rate) }.count >= 2 && failed(above: hi)
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
                // Once: a probe already there answered it.
                if let c = estimate.curveCrossing, c > p / settings.growthFactor, c < f,
                   !probes.contains(where: { abs($0.rate - c) <= 0.01 * c }) {
                    return max(c, settings.minRate)
                }
                // No curve yet: the probes sit on either side of a noisy boundary with nothing on the
                // drop. Repeat the highest pass on a new plan until it held twice; then probe just
                // outside the bracket, above and below in turn.
                guard narrow else { return middle }
                if !passesReplicated(at: p), !failed(atOrBelow: p) { return p }
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
            let (points, scatter) = fitPoints()
            let rates = points.map(\.rate)
            let (pass, fail) = bracket
            var bracketEstimate = CapacityEstimate(maxQPS: pass, ciLow: pass, ciHigh: fail, method: .bracket, curve: nil)
            guard let curve = try? AttainmentCurve.fit(points, scatterPrior: scatter), let low = rates.min(), let high = rates.max()
            else { return bracketEstimate }
            let q = curve.rate(atAttainment: level)
            bracketEstimate.curveCrossing = q.isFinite ? q : nil
            // Trust the curve only among its probes: beyond them the logistic is a guess.
            let limit = high * settings.growthFactor
            guard q > 0, q >= low, q <= high,
                  let ci = curve.profileInterval(atAttainment: level, confidence: settings.confidence, points: points,
                                                 limits: 0...limit)
            else { return bracketEstimate }
            if ci.lowerBound <= 0 || ci.upperBound >= limit {
                let interval = "the \(Int((settings.confidence * 100).rounded())) % interval of the fitted curve"
                bracketEstimate.undetermined = ci.lowerBound <= 0
                    ? "\(interval) reaches a rate of 0: the probes do not bound the capacity from below"
                    : String(format: "%@ reaches a rate of %.3f, past every probe: the probes do not bound the capacity from above",
                             interval, limit)
                // The interval's bounded side still holds; on the other, what the probes settle.
                let settled = settledBracket(dispersion: max(curve.dispersion, scatter?.value ?? 1))
                var low = ci.lowerBound <= 0 ? settled.low : ci.lowerBound
                var high = ci.upperBound >= limit ? settled.high : ci.upperBound
                // Probes that contradict the curve's side settle nothing.
                if let l = low, let h = high, l > h {
                    if ci.lowerBound <= 0 { low = nil } else { high = nil }
                }
                bracketEstimate.ciLow = low
                bracketEstimate.ciHigh = high
                return bracketEstimate
            }
            // No headline below a rate that passed, unless a failure at or below that rate says the
            // boundary is that noisy.
            var headline = q, top = ci.upperBound
            if let highestPass = probes.filter(\.passed).map(\.attainmentPoint.rate).max(), highestPass > q,
               !probes.contains(where: { !$0.passed && $0.attainmentPoint.rate <= highestPass }) {
                headline = highestPass
                top = max(top, highestPass)
            }
            return CapacityEstimate(maxQPS: headline, ciLow: ci.lowerBound, ciHigh: top, method: .logisticProfile, curve: curve)
        }

        /// Where the capacity lies by the verdicts that hold at the search's confidence once the scatter
        /// between probes is counted: above the highest probe whose attainment clears the level by more
        /// than its noise, below the lowest one above that which falls short of it by more than its
        /// noise (or collapsed, or was invalid), the noise being a binomial count's times `dispersion`.
        /// Nil on a side no probe settles. Where the curve gives no answer, a single probe's pass or
        /// failure near the level is a coin that scatter can turn: only these verdicts bound anything.
        func settledBracket(dispersion: Double) -> (low: Double?, high: Double?) {
            let level = search.slo.attainmentLevel
            let z = Stats.normalQuantile(1 - (1 - settings.confidence) / 2)
            func noise(_ p: AttainmentPoint) -> Double {
                z * (max(1, dispersion) * level * (1 - level) / Double(p.trials)).squareRoot()
            }
            let points = probes.map { (point: $0.attainmentPoint, valid: $0.valid) }
            let low = points.filter { $0.valid && $0.point.attainment - level > noise($0.point) }.map(\.point.rate).max()
            let high = points.filter {
                ($0.point.rate > (low ?? 0)) && (!$0.valid || $0.point.attainment < Self.fitFloor(level: level)
                    || level - $0.point.attainment > noise($0.point))
            }.map(\.point.rate).min()
            return (low, high)
        }

        func failed(above rate: Double) -> Bool { probes.contains { $0.rate > rate && !$0.passed } }

        func failed(atOrBelow rate: Double) -> Bool { probes.contains { !$0.passed && $0.rate <= rate } }

        /// At least two probes passed at `rate` or above, and none failed at or below it.
        func passesReplicated(at rate: Double) -> Bool {
            probes.filter { $0.passed && $0.rate >= rate }.count >= 2 && !failed(atOrBelow: rate)
        }

        /// The probes the curve is fitted to, and what the episodes of misses inside them say about how
        /// much probes scatter.
        ///
        /// The probes up to the highest rate where one still has at least half the level's attainment
        /// (`fitFloor`). Probes that collapsed (one long episode of misses) say only that the drop lies
        /// below them: a logistic has one shape for its whole drop, and fitted to them it would set the
        /// shape near the level from far away. They still bound the bracket. Probes partway down the
        /// drop stay in: without them the probes near the level, close together, cannot tell a slope.
        /// A poor probe among them stays in too: it is what the scatter between probes is made of.
        ///
        /// The scatter prior comes from those probes' episodes; when they have no misses at all, from
        /// every valid probe missing at most a quarter of its requests.
        func fitPoints() -> ([AttainmentPoint], AttainmentCurve.DispersionEstimate?) {
            let floor = Self.fitFloor(level: search.slo.attainmentLevel)
            let highestNearLevel = probes.filter { $0.attainmentPoint.attainment >= floor }.map(\.rate).max() ?? 0
            let near = probes.filter { $0.rate <= highestNearLevel }
            let prior = Self.episodeDispersion(near)
                ?? Self.episodeDispersion(probes.filter { $0.valid && $0.attainmentPoint.attainment >= 0.75 })
            return (near.map(\.attainmentPoint), prior)
        }

        static func fitFloor(level: Double) -> Double { level / 2 }

        /// The most a scatter prior from episodes counts for, in degrees of freedom: it is measured inside
        /// the very probes whose scatter it describes, so it stands in for a few probes' worth of
        /// replication, never for the scatter the probes themselves show.
        static let episodePriorDegreesOfFreedom = 4

        /// How much probes should disagree, from the episodes of misses inside them: when misses come
        /// in episodes of sizes S, a probe's count of misses varies E[S^2] / E[S] times more than a
        /// binomial count (compound Poisson). Pooled over the probes, it sees bursts that a handful of
        /// agreeing probes would hide. Its weight is at most `episodePriorDegreesOfFreedom`, and at most
        /// the probes with misses: the episodes of one probe share its luck. Nil without misses.
        static func episodeDispersion(_ probes: [ProbeResult]) -> AttainmentCurve.DispersionEstimate? {
            let sizes = probes.flatMap(\.slo.missEpisodes)
            let total = sizes.reduce(0, +)
            guard total > 0 else { return nil }
            let probesWithMisses = probes.filter { !$0.slo.missEpisodes.isEmpty }.count
            return .init(value: sizes.reduce(0) { $0 + $1 * $1 } / total,
                         degreesOfFreedom: max(1, min(episodePriorDegreesOfFreedom, probesWithMisses, sizes.count - 1)))
        }
    }
}
