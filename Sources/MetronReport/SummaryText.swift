import Foundation
import MetronModel
import MetronStats

/// A run summary as a few readable lines for the terminal. Every figure says what it is over: the
/// successful requests, all requests, or the token gaps pooled from the successful requests.
public enum SummaryText {
    public static func render(_ s: RunSummary) -> String {
        var lines: [String] = []
        // With sessions the target counts sessions, the offered and achieved rates requests.
        let units = s.sessions == nil ? (target: "/s", requests: "/s") : (target: " sessions/s", requests: " req/s")
        let rate = { (v: Double?, unit: String) in v.map { String(format: "%.3f", $0) + unit } ?? "-" }
        lines.append("requests  \(s.requests)  ok \(s.ok)  error rate \(percent(s.errorRate))"
            + (s.errors.isEmpty ? "" : "  (" + s.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + ")"))
        lines.append("rate      target \(rate(s.targetRate, units.target))  offered \(rate(s.offeredRate, units.requests))"
            + "  achieved \(rate(s.achievedRate, units.requests))" + String(format: "  over %.2f s", s.durationS))
        let successful = "successful of \(s.requests)"
        let overSuccessful = "over \(s.ok) \(successful)"
        lines.append("            mean      p50       p90       p99       over")
        for (name, d) in s.latencies {
            let over: String
            switch name {
            case "tbt": over = "over \(d.count) token gaps of \(s.ok) \(successful)"
            case "inter-chunk": over = "over \(d.count) chunk gaps of \(s.ok) \(successful)"
            case "tpot": over = "over \(d.count) \(successful) (those of 2 or more tokens)"
            case "ttfot": over = d.count == s.ok ? overSuccessful + " (first visible token)"
                : "over \(d.count) \(successful) (those with a visible token)"
            default: over = d.count == s.ok ? overSuccessful : "over \(d.count) \(successful) (those with output)"
            }
            lines.append(name.padding(toLength: 12, withPad: " ", startingAt: 0)
                + [d.mean, d.p50, d.p90, d.p99].map { seconds($0) }.joined() + over)
        }
        let f = s.fluidity
        lines.append("fluidity  P99 (p1) \(fraction(f.p1))  p50 \(fraction(f.p50))  mean \(fraction(f.mean))"
            + "  over all \(f.requests) requests (a failed one counts 0)  ["
            + (f.tokens == .visible ? "visible tokens only, from the first" : f.ttftDeadline) + ", D_d = \(f.tbtDeadlineS) s]")
        lines.append("          service miss rate \(percent(f.serviceMissRate)) (\(f.serviceDeadlines.missed) of "
            + "\(f.serviceDeadlines.total) deadlines) over \(f.serviceRequests) \(successful)")
        let r = s.tokenRates
        lines.append("tokens    fluid token rate \(tokenRate(r.fluidTokenGenerationRate)) over \(r.requests) \(successful)")
        lines.append("          TPOT based \(tokenRate(r.tpotBased)) over \(r.requests) \(successful)"
            + " (requests of 0 or 1 token count as TPOT 0)")
        lines.append("          TBT based \(tokenRate(r.tbtBased)) over \(r.tokenGaps) token gaps of \(r.requests) \(successful)")
        lines.append(String(format: "          %.1f output tokens/s ", s.outputTokensPerS) + overSuccessful)
        if let c = s.promptCache {
            lines.append("          prompt cache: \(c.cachedTokens) of \(c.promptTokens) prompt tokens (\(percent(c.cachedFraction))) "
                + "from the server's cache, over the \(c.requests) successful requests that reported it")
        }
        if let u = s.reasoning {
            lines.append("          reasoning: \(u.tokens) tokens over the \(u.requests) \(successful) that streamed it"
                + String(format: " (%.1f per request)", Double(u.tokens) / Double(u.requests))
                + (u.withoutVisibleOutput > 0 ? "; \(u.withoutVisibleOutput) ended before any visible token" : ""))
        }
        if let sessions = s.sessions { lines += sessionLines(sessions) }
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

    /// The session rate, then one line per turn index.
    static func sessionLines(_ s: SessionFigures) -> [String] {
        var lines = ["sessions  \(s.sessions) opened, offered \(s.offeredRate.map { String(format: "%.3f/s", $0) } ?? "-")"
            + (s.requestsPerSession.map { String(format: ", %.2f requests per session", $0) } ?? "")]
        lines.append("  turn    requests  ok      ttft p50  ttft p99  e2e p50   prompt    fluidity P99 (p1)")
        for t in s.turns {
            lines.append("  " + "\(t.turn)".padding(toLength: 8, withPad: " ", startingAt: 0)
                + "\(t.requests)".padding(toLength: 10, withPad: " ", startingAt: 0)
                + "\(t.ok)".padding(toLength: 8, withPad: " ", startingAt: 0)
                + seconds(t.ttft.p50) + seconds(t.ttft.p99) + seconds(t.e2e.p50)
                + (t.promptTokens.mean.map { String(format: "%.0f", $0) } ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0)
                + fraction(t.fluidityP1)
                + (t.cachedFraction.map { "  cached \(percent($0))" } ?? ""))
        }
        return lines
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
    static func tokenRate(_ v: Double?) -> String { v.map { String(format: "%.2f tok/s", $0) } ?? "- (no finite rate)" }
    static func percent(_ v: Double) -> String { String(format: "%.2f%%", v * 100) }
}
