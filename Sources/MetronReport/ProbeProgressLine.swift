import Foundation
import MetronModel
import MetronSearch

extension ProbeResult {
    /// One line per probe for a terminal.
    public var progressLine: String {
        let fluidity = percentileFluidity.map { String(format: "%.3f", $0) } ?? "-"
        let achieved = achievedRate.map { String(format: "%.3f", $0) } ?? "-"
        let verdict = passed ? "pass" : (valid ? "FAIL" : "INVALID")
        let why = reasons.isEmpty ? "" : " (\(reasons.joined(separator: "; ")))"
        return "\(request.directoryName): achieved \(achieved) req/s, \(requests) requests, P\(compactNumber(fluidityPercentile)) fluidity \(fluidity), errors \(percent(errorRate)) -> \(verdict)\(why)"
    }
}
