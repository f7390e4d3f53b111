import Foundation
import MetronCore
import MetronStats

/// A run summary as a few readable lines for the terminal.
public enum SummaryText {
    public static func render(_ s: RunSummary) -> String {
        var lines: [String] = []
        let rate = { (v: Double?) in v.map { String(format: "%.3f/s", $0) } ?? "-" }
        lines.append("requests  \(s.requests)  ok \(s.ok)  error rate \(percent(s.errorRate))"
            + (s.errors.isEmpty ? "" : "  (" + s.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + ")"))
        lines.append("rate      target \(rate(s.targetRate))  offered \(rate(s.offeredRate))  achieved \(rate(s.achievedRate))"
            + String(format: "  over %.2f s", s.durationS))
        lines.append("                 mean      p50       p90       p99")
        for (name, d) in [("ttft", s.ttft), ("tbt", s.tbt), ("tpot", s.tpot), ("e2e", s.e2e),
                          ("norm. lat.", s.normalizedLatency), ("inter-chunk", s.interChunkLatency)] {
            lines.append(name.padding(toLength: 12, withPad: " ", startingAt: 0)
                + [d.mean, d.p50, d.p90, d.p99].map { seconds($0) }.joined())
        }
        let f = s.fluidity
        lines.append("fluidity  P99 (p1) \(fraction(f.p1))  p50 \(fraction(f.p50))  mean \(fraction(f.mean))"
            + "  [\(f.ttftDeadline), D_d = \(f.tbtDeadlineS) s]")
        lines.append(String(format: "tokens    %.1f output tokens/s", s.outputTokensPerS))
        let c = s.client
        var health = "client    lag p50 \(seconds(c.lag.p50)) p99 \(seconds(c.lag.p99)) max \(seconds(c.lag.max))"
        if let t = c.timerLateness { health += "  timer lateness p50 \(seconds(t.p50)) p99 \(seconds(t.p99))" }
        lines.append(health)
        let threshold = seconds(c.lagThresholdS).trimmingCharacters(in: .whitespaces)
        if let cap = c.maxInFlight { lines.append("          in-flight cap \(cap): the run was not open loop") }
        if c.trustworthy {
            lines.append("          timing trustworthy (p99 lag and lateness <= \(threshold))")
        } else if let reasons = c.untrustworthyReasons, !reasons.isEmpty {
            lines += reasons.map { "          NOT TRUSTWORTHY: \($0)" }
        } else {
            lines.append("          NOT TRUSTWORTHY: client lag or timer lateness above \(threshold) at p99")
        }
        if let warning = s.percentileWarning { lines.append("note: \(warning)") }
        return lines.joined(separator: "\n")
    }

    static func seconds(_ v: Double?) -> String {
        guard let v else { return "-".padding(toLength: 10, withPad: " ", startingAt: 0) }
        let text: String
        if abs(v) < 1e-3 { text = String(format: "%.1fus", v * 1e6) }
        else if abs(v) < 1 { text = String(format: "%.2fms", v * 1e3) }
        else { text = String(format: "%.3fs", v) }
        return text.padding(toLength: 10, withPad: " ", startingAt: 0)
    }

    static func fraction(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "-" }
    static func percent(_ v: Double) -> String { String(format: "%.2f%%", v * 100) }
}
