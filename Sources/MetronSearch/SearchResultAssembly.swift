import Foundation
import MetronModel
import MetronStats

/// The search's result from its probes and its stop: the estimate, its warnings, tokens/s at capacity.
extension CapacitySearch.State {
    func result(stop: StopReason) -> CapacityResult {
        var estimate: CapacityEstimate
        switch settings.strategy {
        case .fitted:
            estimate = self.estimate()
            // Without a curve, a number is only the bracket: say so, unless the bracket is already as
            // narrow as asked (a step).
            if estimate.method == .bracket, estimate.undetermined == nil, stop != .bracketWithinWidth {
                estimate.undetermined = stop == .aboveMaxRate ? "every probe passed, up to the maximum rate"
                    : stop == .belowMinRate ? "the SLO failed even at the minimum rate"
                    : "the attainment curve could not be fitted inside the probed range"
                (estimate.ciLow, estimate.ciHigh) = settledBracket(dispersion: fitPoints().1?.value ?? 1)
            }
        case .bisect:
            let fail = probes.filter { !$0.passed && $0.rate > (bisectBest ?? 0) }.map(\.rate).min()
            estimate = CapacityEstimate(maxQPS: bisectBest, ciLow: bisectBest, ciHigh: fail, method: .bracket, curve: nil)
        }
        var warnings: [String] = []
        if stop == .aboveMaxRate {
            warnings.append("every probe passed up to the maximum rate, \(String(format: "%.3f", settings.maxRate)) req/s: the capacity may lie above it")
        }
        if stop == .belowMinRate { warnings.append("the SLO failed even at the minimum rate") }
        if let smallest = probes.filter({ !$0.request.bracketing }).map(\.requests).min(),
           let warning = ProbeWindow.tailWarning(requests: smallest, level: search.slo.attainmentLevel,
                                                 what: "the smallest probe near capacity, of") {
            warnings.append(warning)
        }
        if !clientFailures.isEmpty {
            let faulted = clientFailures.filter { $0.client.failedRequests > 0 }.count
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
            probes: probes + clientFailures, bracket: bracket, outputTokensPerS: estimate.maxQPS.flatMap { tokensPerSecond(at: $0) }, warnings: warnings)
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
