import Foundation

extension AttainmentCurve {
    /// Profile-likelihood confidence interval of the rate at `level`: every rate `c` whose best
    /// curve through (c, level) has a (penalized) binomial deviance within `dispersion * F` of the best curve
    /// overall, F the quantile of the F distribution with (1, `dispersionDegreesOfFreedom`) degrees of
    /// freedom, since the dispersion is itself estimated (z^2 when it was not). Unlike the delta method it
    /// follows the likelihood's real, skewed shape, which matters when few probes sit on the drop.
    /// A side not bounded within `limits` ends at the limit (the data exclude nothing there); nil
    /// when the curve's own crossing lies outside `limits`.
    public func profileInterval(
        atAttainment level: Double, confidence: Double, points data: [AttainmentPoint], limits: ClosedRange<Double>
    ) -> ClosedRange<Double>? {
        let points = data.filter { $0.trials > 0 }
        guard !points.isEmpty else { return nil }
        let rates = points.map(\.rate)
        let span = max(rates.max()! - rates.min()!, 1e-9)
        let logit = log((1 - level) / level)
        let z = Stats.normalQuantile(1 - (1 - confidence) / 2)
        let threshold = dispersionDegreesOfFreedom > 0
            ? dispersion * Stats.fQuantile(upperTail: 1 - confidence, dof1: 1, dof2: Double(dispersionDegreesOfFreedom))
            : z * z

        // Parameterized by the crossing c: midpoint = c - s logit (the penalty is the same in either).
        func logLikelihood(crossing c: Double, logScale t: Double) -> Double {
            Self.penalizedLogLikelihood(points, midpoint: c - exp(t) * logit, logScale: t, dispersion: dispersion)
        }
        // Best log scale for a given crossing: a coarse scan, then golden-section refinement.
        func profile(_ c: Double) -> Double {
            let lo = log(span * 1e-4), hi = log(span * 100)
            let grid = (0...40).map { lo + (hi - lo) * Double($0) / 40 }
            let values = grid.map { logLikelihood(crossing: c, logScale: $0) }
            let best = values.indices.max { values[$0] < values[$1] }!
            var a = grid[max(best - 1, 0)], b = grid[min(best + 1, grid.count - 1)]
            let g = (5.0.squareRoot() - 1) / 2
            for _ in 0..<40 {
                let x1 = b - g * (b - a), x2 = a + g * (b - a)
                if logLikelihood(crossing: c, logScale: x1) < logLikelihood(crossing: c, logScale: x2) { a = x1 } else { b = x2 }
            }
            return max(values[best], logLikelihood(crossing: c, logScale: (a + b) / 2))
        }

        let center = rate(atAttainment: level)
        let peak = max(profile(center), logLikelihood(crossing: center, logScale: log(scale)))
        func outside(_ c: Double) -> Bool { 2 * (peak - profile(c)) > threshold }

        // Walk outward in growing steps until the deviance crosses the threshold, then bisect.
        func edge(direction: Double) -> Double? {
            var inner = center, step = max(scale * 0.05, span * 1e-3)
            while true {
                let candidate = center + direction * step
                guard limits.contains(candidate) else {
                    let bound = direction > 0 ? limits.upperBound : limits.lowerBound
                    if outside(bound) { inner = max(min(inner, limits.upperBound), limits.lowerBound); break }
                    return bound
                }
                if outside(candidate) { break }
                inner = candidate
                step *= 1.5
            }
            var a = inner, b = min(max(center + direction * step, limits.lowerBound), limits.upperBound)
            for _ in 0..<40 {
                let mid = (a + b) / 2
                if outside(mid) { b = mid } else { a = mid }
            }
            return (a + b) / 2
        }
        guard limits.contains(center), let low = edge(direction: -1), let high = edge(direction: 1) else { return nil }
        return low...high
    }
}
