import MetronModel

extension CapacitySearch.State {
    /// The reference's bisection, step for step: the first probe at the start rate, each next one
    /// halfway between the bounds rounded to 0.01 req/s; a pass above 80 % of the upper bound
    /// doubles it, but never past the lowest failure. It stops when the bounds are closer than
    /// `bisectGranularity` of the last rate, when a rate repeats, or after `bisectMaxIterations`
    /// probes (the probe budget is the fitted search's). A rate probed before is judged by its
    /// earlier probe, as the reference finds its earlier run on disk.
    mutating func bisect() async throws -> StopReason {
        var left = 0.0, right = 2 * settings.startRate
        var qps = 0.0, lastQPS = 0.0
        var lowestFailure = Double.infinity
        for _ in 0..<settings.bisectMaxIterations {
            // The reference's percent arithmetic, so that the bounds compare to the bit.
            if abs(left - right) < settings.bisectGranularity * 100 * qps / 100 { return .bisectGranularity }
            qps = Self.roundToHundredths((left + right) / 2)
            if qps == lastQPS { return .bisectGranularity }
            lastQPS = qps
            let passed: Bool
            if let earlier = probes.first(where: { $0.rate == ProbeRequest.round(qps) }) {
                passed = earlier.passed
            } else {
                passed = try await run(qps).passed
            }
            if passed {
                bisectBest = qps
                if qps > 0.8 * right { right = min(2 * right, lowestFailure) }
                left = qps
            } else {
                right = qps
                lowestFailure = min(lowestFailure, qps)
            }
        }
        return .bisectMaxIterations
    }

    /// Python's `round(x, 2)`: the correctly rounded decimal (ties to even), as printf rounds.
    static func roundToHundredths(_ x: Double) -> Double {
        Double(String(format: "%.2f", x)) ?? x
    }
}
