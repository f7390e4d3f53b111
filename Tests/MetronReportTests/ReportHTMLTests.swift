import Foundation
import MetronModel
@testable import MetronReport
import XCTest

final class ReportHTMLTests: XCTestCase {
    static func capacity(maxQPS: Double?, low: Double?, high: Double?, reasons: [String] = [], server: ServerView? = nil) throws -> SweepReport.CapacityFile {
        let probe: [String: Any] = [
            "rate": 4.0, "attempt": 0, "directory": "rate-4.000", "requests": 120, "error_rate": 0.0, "valid": false,
            "passed": false, "attainment": 0.98, "reasons": reasons,
        ]
        var object: [String: Any] = [
            "confidence": 0.95, "interval_method": "profile_likelihood", "strategy": "fitted", "stop_reason": "probe_budget",
            "slo": ["name": "p99", "type": "fluidity", "description": "P99 <fluidity> & more", "attainment_level": 0.99,
                    "max_error_rate": 0.01, "ttft_deadline": "fixed 1 s", "tbt_deadline_s": 0.03],
            "probes": [probe], "simulated": false, "warnings": ["<script>alert(1)</script>"],
        ]
        if let maxQPS { object["max_qps"] = maxQPS }
        if let low { object["ci_low"] = low }
        if let high { object["ci_high"] = high }
        var data = try JSONSerialization.data(withJSONObject: object)
        if let server {
            var decoded = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            var probes = decoded["probes"] as! [[String: Any]]
            probes[0]["server"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(server))
            decoded["probes"] = probes
            data = try JSONSerialization.data(withJSONObject: decoded)
        }
        return try JSONDecoder().decode(SweepReport.CapacityFile.self, from: data)
    }

    func search(_ system: String, _ capacity: SweepReport.CapacityFile, usd: Double? = nil) -> SweepReport.Search {
        SweepReport.Search(system: system, workload: "chat", slo: "p99", gpus: 1, usdPerHour: usd, capacity: capacity, plots: nil,
                           probeSettings: ["arrival": "poisson <&>"], serverMetrics: [])
    }

    func testEscapesEveryTextAndShowsRatiosAndSignificance() throws {
        let view = ServerView(samples: [{ var s = ServerMetricsSample(t: 5, samples: []); s.kvCacheUsage = 1; s.waiting = 52; return s }()],
                              windowStartS: 0, windowEndS: 10)
        let report = SweepReport(sweep: "demo", searches: [
            search("fast", try Self.capacity(maxQPS: 10, low: 9, high: 11, reasons: ["rate <b>off</b>"], server: view), usd: 4),
            search("slow", try Self.capacity(maxQPS: 5, low: 4, high: 6)),
            search("open", try Self.capacity(maxQPS: 4, low: 3, high: nil)),
        ], confidence: 0.95)
        let html = ReportHTML.render(report)
        XCTAssertFalse(html.contains("<script>alert"), "a warning's text is escaped")
        XCTAssertTrue(html.contains("warning: &lt;script&gt;alert(1)&lt;/script&gt;"))
        XCTAssertTrue(html.contains("rate &lt;b&gt;off&lt;/b&gt;"))
        XCTAssertTrue(html.contains("P99 &lt;fluidity&gt; &amp; more"))
        XCTAssertTrue(html.contains("poisson &lt;&amp;&gt;"))
        XCTAssertTrue(html.contains("KV cache 100 % full, up to 52 waiting"), "the probe table shows the server's view")
        XCTAssertTrue(html.contains("2.00x"), "ratio of adjacent systems")
        XCTAssertTrue(html.contains(CapacityTable.comparison(report.searches[0].row, report.searches[1].row)))
        XCTAssertTrue(html.contains("2.00x next [1.56, 2.56]: higher than slow"))
        XCTAssertTrue(html.contains("no claim against open (open&#39;s interval is unbounded above)"))
        XCTAssertTrue(html.contains("stroke-dasharray=\"4 3\""), "an unbounded interval's whisker is dashed")
        XCTAssertEqual(html.components(separatedBy: "<script>").count, 2, "one inline script, ours")
        for id in ReportHTML.sections { XCTAssertTrue(html.contains("<section id=\"\(id)\">"), id) }
        XCTAssertNil(html.range(of: #"(src|href)\s*=\s*"(?!#)"#, options: .regularExpression))
        XCTAssertEqual(htmlEscaped("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&#39;")
    }

    func testAnEmptySweepStillRenders() {
        let html = ReportHTML.render(SweepReport(sweep: "nothing", searches: [], confidence: 0.95))
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("Nothing to show."))
        XCTAssertTrue(html.hasSuffix("</html>\n"))
    }

    func testTicksAreRound() {
        XCTAssertEqual(SVGPlot.ticks(0...10), [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(SVGPlot.ticks(0...1).map { ($0 * 10).rounded() }, [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(SVGPlot.ticks(0.9...1).count, 6)
    }
}
