import Foundation
import MetronModel
import MetronStats

/// `report.html`: one self-contained page per sweep (inline CSS and SVG, one small inline script, no
/// external resource), built from `SweepReport` alone. Every text taken from the results is escaped.
public enum ReportHTML {
    public static let fileName = "report.html"

    /// The element the inline script adds once the page has loaded, so a browser test can tell that
    /// the script ran without errors.
    public static let readyMarker = "metron-report-ready"

    /// The section ids, in order: what a reader (or a test) finds on the page.
    public static let sections = ["ranking", "capacity", "curves", "probes", "server-metrics", "distributions", "definitions", "cost"]

    public static func write(_ report: SweepReport, to directory: URL) throws {
        try AtomicWrite.text(render(report), to: directory.appendingPathComponent(fileName))
    }

    /// Searches grouped by (workload, SLO): only capacities under the same workload and SLO compare.
    static func groups(_ report: SweepReport) -> [(title: String, searches: [SweepReport.Search])] {
        var out: [(title: String, searches: [SweepReport.Search])] = []
        for s in report.searches {
            let title = "workload \(s.workload), SLO \(s.slo)"
            if let i = out.firstIndex(where: { $0.title == title }) { out[i].searches.append(s) } else { out.append((title, [s])) }
        }
        return out
    }

    public static func render(_ report: SweepReport) -> String {
        let simulated = report.searches.contains { $0.capacity.simulated }
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Metron report: \(htmlEscaped(report.sweep))</title>
            <style>\(css)</style></head><body>
            <header><h1>Capacity report: \(htmlEscaped(report.sweep))</h1>
            """
        if simulated {
            html += "<p class=\"banner\">SIMULATED: measured against Metron's serving model, not real servers.</p>"
        }
        html += "<nav>" + sections.map { "<a href=\"#\($0)\">\($0.replacingOccurrences(of: "-", with: " "))</a>" }.joined(separator: " · ") + "</nav></header>"
        let grouped = groups(report)
        html += section("ranking", "Ranking", grouped.map { ranking($0.title, $0.searches, confidence: report.confidence) }.joined())
        html += section("capacity", "Capacity with \(percent(report.confidence)) intervals", grouped.map { capacityBars($0.title, $0.searches) }.joined())
        html += section("curves", "Attainment against rate", "<p class=\"note\">The fitted logistic of capacity.json; filled circles passed, crosses failed, hollow squares were invalid (counted as over capacity).</p><div class=\"grid\">" + report.searches.map(attainmentCurve).joined() + "</div>")
        html += section("probes", "Probes", report.searches.map(probeTable).joined())
        html += section("server-metrics", "The server's view near capacity", serverMetrics(report.searches))
        html += section("distributions", "Fluidity and TBT", grouped.map { distributions($0.title, $0.searches) }.joined())
        html += section("definitions", "SLO and workload definitions", definitions(report.searches))
        html += section("cost", "Cost per million output tokens", cost(grouped))
        html += """
            <footer>Written by Metron from the sweep's capacity.json, plots.json, probe.json and server_metrics.jsonl files.</footer>
            <script>\(script)</script></body></html>

            """
        return html
    }

    static let script = """
        window.addEventListener('load', function () {
          var marker = document.createElement('p');
          marker.id = '\(readyMarker)';
          marker.className = 'ready';
          marker.textContent = document.querySelectorAll('svg').length + ' charts';
          document.body.appendChild(marker);
        });
        """

    static let css = """
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1220px;padding:0 16px 32px;color:#1a1a1a;background:#fafafa}
        h1{font-size:24px;margin:18px 0 6px}h2{font-size:19px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:30px}
        h3{font-size:15px;margin:18px 0 6px}nav a{color:#1f5fa8;text-decoration:none;font-size:13px}
        table{border-collapse:collapse;font-size:12.5px;margin:6px 0 12px;background:white}
        th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f0f0f0}
        td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        tr.pass td.verdict{color:#17713a;font-weight:bold}tr.fail td.verdict{color:#b3261e;font-weight:bold}
        tr.invalid td.verdict{color:#7a5b00;font-weight:bold}
        .banner{background:#fff3cd;border:1px solid #e0c36a;padding:6px 10px;font-weight:bold}
        .note{color:#555;font-size:12.5px}.grid{display:flex;flex-wrap:wrap;gap:10px}
        svg{background:white;border:1px solid #e3e3e3;max-width:100%;height:auto}
        footer{margin-top:30px;color:#777;font-size:12px}.ready{color:#999;font-size:11px}
        """

    static func section(_ id: String, _ title: String, _ content: String) -> String {
        "<section id=\"\(id)\"><h2>\(htmlEscaped(title))</h2>\(content.isEmpty ? "<p class=\"note\">Nothing to show.</p>" : content)</section>"
    }

    static func table(_ header: [String], _ rows: [[String]], rowClasses: [String]? = nil, numeric: Set<Int> = []) -> String {
        var out = "<table><thead><tr>" + header.map { "<th>\(htmlEscaped($0))</th>" }.joined() + "</tr></thead><tbody>"
        for (i, row) in rows.enumerated() {
            let cls = rowClasses.map { " class=\"\($0[i])\"" } ?? ""
            out += "<tr\(cls)>" + row.enumerated().map { c, cell in
                let attribute = numeric.contains(c) ? " class=\"num\"" : (header[c] == "verdict" ? " class=\"verdict\"" : "")
                return "<td\(attribute)>\(htmlEscaped(cell))</td>"
            }.joined() + "</tr>"
        }
        return out + "</tbody></table>"
    }

    static func fixed(_ x: Double?, _ digits: Int = 2) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "-" }
    static func percent(_ x: Double) -> String { "\(Int((x * 100).rounded())) %" }

    static func ranking(_ title: String, _ searches: [SweepReport.Search], confidence: Double) -> String {
        let ranked = CapacityTable.ranked(searches.map(\.row))
        let rows = ranked.enumerated().map { i, r -> [String] in
            let next = i + 1 < ranked.count ? ranked[i + 1] : nil
            return ["\(i + 1)", r.system, fixed(r.maxQPS), r.intervalText, fixed(r.qpsPerGPU), fixed(r.outputTokensPerS, 0),
                    fixed(r.usdPerMillionOutputTokens), next.map { CapacityTable.comparison(r, $0, confidence: confidence) } ?? ""]
        }
        return "<h3>\(htmlEscaped(title))</h3>" + table(
            ["#", "system", "max QPS", "\(percent(confidence)) interval", "QPS/GPU", "out tok/s", "$/M out tok", "vs next"],
            rows, numeric: [0, 2, 4, 5, 6])
    }

    static func capacityBars(_ title: String, _ searches: [SweepReport.Search]) -> String {
        let ranked = CapacityTable.ranked(searches.map(\.row))
        let top = ranked.flatMap { [$0.maxQPS, $0.ciHigh, $0.ciLow].compactMap { $0 } }.max() ?? 1
        var plot = SVGPlot(title: title, x: 0...(top * 1.1), y: 0...1, xLabel: "max sustainable QPS", yLabel: "",
                           width: 760, height: 70 + 44 * Double(max(ranked.count, 1)),
                           leftMargin: 16 + 7 * Double(ranked.map(\.system.count).max() ?? 8))
        for (i, r) in ranked.enumerated() {
            plot.bar(row: i, of: ranked.count, value: r.maxQPS ?? 0, low: r.ciLow, high: r.ciHigh, color: SVGPlot.color(i),
                     label: r.system, tip: "\(r.system): \(fixed(r.maxQPS)) req/s, interval \(r.intervalText)")
        }
        return plot.svg(yTicks: false) + "<p class=\"note\">Whiskers: the interval; a dashed whisker runs to the edge where the data do not bound the capacity above.</p>"
    }

    static func attainmentCurve(_ s: SweepReport.Search) -> String {
        let c = s.capacity
        let rates = c.probes.map(\.rate) + [c.maxQPS, c.ciHigh].compactMap { $0 }
        let xMax = (rates.max() ?? 1) * 1.1
        let yMin = max(0, min(c.probes.map(\.attainment).min() ?? 0.9, c.slo.attainmentLevel - 0.05))
        var plot = SVGPlot(title: "\(s.system) / \(s.workload) / \(s.slo)", x: 0...xMax, y: (floor(yMin * 20) / 20)...1,
                           xLabel: "rate (\(c.rateUnit))", yLabel: "attainment")
        plot.legendCorner = .bottomLeft
        if let curve = c.curve {
            let points = (0...120).map { i -> (Double, Double) in
                let r = xMax * Double(i) / 120
                return (r, curve(r))
            }
            plot.line(points, color: "#1f77b4", label: "fitted logistic")
        }
        plot.horizontalRule(at: c.slo.attainmentLevel, color: "#666", label: "level \(c.slo.attainmentLevel)")
        if let q = c.maxQPS { plot.verticalRule(at: q, color: "#2ca02c", label: "capacity \(fixed(q))") }
        for p in c.probes {
            let tip = "\(p.directory): attainment \(fixed(p.attainment, 4)), \(p.passed ? "passed" : p.valid ? "failed" : "invalid")"
            if !p.valid {
                plot.marker((p.rate, p.attainment), .hollowSquare, color: "#7a5b00", tip: tip)
            } else if p.passed {
                plot.marker((p.rate, p.attainment), .filled, color: "#17713a", tip: tip)
            } else {
                plot.marker((p.rate, p.attainment), .cross, color: "#b3261e", tip: tip)
            }
        }
        return plot.svg()
    }

    static func serverText(_ v: ServerView?) -> String {
        guard let v else { return "-" }
        return v.sentence.hasPrefix("server: ") ? String(v.sentence.dropFirst(8)) : v.sentence
    }

    /// "P50 -3.9 ms, P90 -0.6 ms (allowed 20 ms)": the server's TTFT minus the client's.
    static func ttftText(_ c: ServerTTFTComparison?) -> String {
        guard let c else { return "-" }
        let offsets = zip(c.quantiles, c.offsetS).map { String(format: "P%.0f %+.1f ms", $0 * 100, $1 * 1000) }
        let allowed = c.toleranceS.max().map { String(format: " (allowed %.0f ms)", $0 * 1000) } ?? ""
        return offsets.joined(separator: ", ") + allowed + (c.withinTolerance ? "" : " OUTSIDE")
    }

    static func probeTable(_ s: SweepReport.Search) -> String {
        let probes = s.capacity.probes.sorted { ($0.rate, $0.attempt) < ($1.rate, $1.attempt) }
        let rows = probes.map { p -> [String] in
            [p.directory, fixed(p.achievedRate, 3), "\(p.requests)", fixed(p.p99Fluidity, 4), String(format: "%.2f %%", p.errorRate * 100),
             fixed(p.attainment, 4), p.passed ? "pass" : p.valid ? "FAIL" : "INVALID", p.reasons.joined(separator: "; "),
             serverText(p.server), ttftText(p.serverTTFT)]
        }
        let classes = probes.map { $0.passed ? "pass" : $0.valid ? "fail" : "invalid" }
        var out = "<h3>\(htmlEscaped("\(s.system) / \(s.workload) / \(s.slo)"))</h3>"
        out += "<p class=\"note\">\(htmlEscaped("\(s.capacity.strategy) search, stopped: \(s.capacity.stopReason.replacingOccurrences(of: "_", with: " ")), interval: \(s.capacity.intervalMethod.replacingOccurrences(of: "_", with: " "))"))</p>"
        out += table(["probe", "achieved", "requests", "fluidity at percentile", "errors", "attainment", "verdict", "reasons", "server",
                      "server TTFT - client"],
                     rows, rowClasses: classes, numeric: [1, 2, 3, 4, 5])
        if !s.capacity.warnings.isEmpty {
            out += "<ul>" + s.capacity.warnings.map { "<li>warning: \(htmlEscaped($0))</li>" }.joined() + "</ul>"
        }
        return out
    }

    static func serverMetrics(_ searches: [SweepReport.Search]) -> String {
        var out = ""
        for s in searches {
            for probe in s.serverMetrics {
                let good = probe.samples.filter { $0.error == nil }
                let failed = probe.samples.count - good.count
                let label = "\(s.system) / \(s.workload): \(probe.directory) (\(probe.passed ? "passed" : "did not pass"))"
                out += "<h3>\(htmlEscaped(label))</h3>"
                if failed > 0 {
                    let first = probe.samples.first { $0.error != nil }?.error ?? ""
                    out += "<p class=\"note\">\(htmlEscaped("\(failed) of \(probe.samples.count) scrapes failed, first: \(first)"))</p>"
                }
                guard let last = probe.samples.map(\.t).max(), !good.isEmpty else { continue }
                var kv = SVGPlot(title: "KV-cache usage", x: 0...max(last, probe.windowEndS), y: 0...100, xLabel: "run time (s)", yLabel: "% of KV cache")
                kv.band(from: probe.windowStartS, to: probe.windowEndS, color: "#1f77b4")
                kv.line(good.compactMap { g in g.kvCacheUsage.map { (g.t, $0 * 100) } }, color: "#9467bd", label: "KV cache")
                let peak = good.flatMap { [$0.running, $0.waiting].compactMap { $0 } }.max() ?? 1
                var queue = SVGPlot(title: "Requests at the server", x: 0...max(last, probe.windowEndS), y: 0...max(1, peak * 1.1),
                                    xLabel: "run time (s)", yLabel: "requests")
                queue.band(from: probe.windowStartS, to: probe.windowEndS, color: "#1f77b4")
                queue.line(good.compactMap { g in g.running.map { (g.t, $0) } }, color: "#2ca02c", label: "running")
                queue.line(good.compactMap { g in g.waiting.map { (g.t, $0) } }, color: "#d62728", label: "waiting")
                let kvChart = good.contains { $0.kvCacheUsage != nil } ? kv.svg()
                    : "<p class=\"note\">The server exports no KV-cache usage.</p>"
                out += "<div class=\"grid\">" + kvChart + queue.svg() + "</div>"
            }
        }
        return out.isEmpty ? "<p class=\"note\">No server metrics were scraped (virtual-time probes, a server without /metrics, or scraping switched off).</p>"
            : "<p class=\"note\">The shaded band is the probe's measurement window.</p>" + out
    }

    static func distributions(_ title: String, _ searches: [SweepReport.Search]) -> String {
        let withPlots = searches.enumerated().compactMap { i, s in s.plots.map { (i, s, $0) } }
        guard !withPlots.isEmpty else { return "" }
        // Axes span where the distributions change: fluidity from its lowest value, TBT up to its P99.
        let lowest = withPlots.compactMap { $0.2.fluidity.first }.min() ?? 0
        // At least 0.9...1, so that a probe whose requests were all fluid still gets a fluidity axis.
        var fluidity = SVGPlot(title: "Per-request fluidity-index (CDF)", x: min(floor(lowest * 10) / 10, 0.9)...1, y: 0...1,
                               xLabel: "fluidity-index", yLabel: "fraction of requests")
        fluidity.legendCorner = .topLeft
        let p99 = withPlots.compactMap { p in p.2.tbt.flatMap { q in zip(q.quantiles, q.valuesS).first { $0.0 >= 0.99 }?.1 } }.max()
        var tbt = SVGPlot(title: "Token-level TBT (CDF)", x: 0...max(1, (p99 ?? 0.1) * 1000 * 1.5), y: 0...1,
                          xLabel: "TBT (ms)", yLabel: "fraction of tokens")
        tbt.legendCorner = .bottomRight
        var target = SVGPlot(title: "P99 fluidity against target TBT", x: 0...100, y: 0...1, xLabel: "target TBT D_d (ms)", yLabel: "P99 fluidity-index")
        target.legendCorner = .bottomRight
        for (i, s, plots) in withPlots {
            let color = SVGPlot.color(i)
            let label = "\(s.system) @ \(fixed(plots.probeRate)) req/s"
            let n = Double(plots.fluidity.count)
            fluidity.line(plots.fluidity.enumerated().map { ($1, Double($0 + 1) / n) }, color: color, label: label)
            if let q = plots.tbt { tbt.line(zip(q.valuesS, q.quantiles).map { ($0 * 1000, $1) }, color: color, label: label) }
            if let curve = plots.fluidityVsTargetTBT {
                target.line(zip(curve.deadlineS, curve.p99Fluidity).map { ($0 * 1000, $1) }, color: color, label: label)
            }
        }
        if let slo = searches.first?.capacity.slo { target.verticalRule(at: slo.tbtDeadlineS * 1000, color: "#666", label: "SLO D_d") }
        return "<h3>\(htmlEscaped(title))</h3><p class=\"note\">Each system at its highest passing probe (else its lowest).</p><div class=\"grid\">"
            + fluidity.svg() + tbt.svg() + target.svg() + "</div>"
    }

    static func definitions(_ searches: [SweepReport.Search]) -> String {
        var out = "<h3>SLOs</h3>"
        var seen = Set<String>()
        let slos = searches.map(\.capacity.slo).filter { seen.insert($0.name).inserted }
        out += table(["name", "type", "definition", "level", "max errors", "first-token deadline", "D_d (s)"],
                     slos.map { [$0.name, $0.type, $0.description, "\($0.attainmentLevel)", percent($0.maxErrorRate), $0.ttftDeadline, "\($0.tbtDeadlineS)"] })
        out += "<h3>Workloads and probe settings</h3>"
        var shown = Set<String>()
        for s in searches where shown.insert("\(s.system)/\(s.workload)").inserted && !s.probeSettings.isEmpty {
            out += "<h4>\(htmlEscaped("\(s.system) / \(s.workload)"))</h4>"
            out += table(["setting", "value"], s.probeSettings.sorted { $0.key < $1.key }.map { [$0.key, $0.value] })
        }
        return out
    }

    static func cost(_ grouped: [(title: String, searches: [SweepReport.Search])]) -> String {
        grouped.map { group in
            let rows = CapacityTable.ranked(group.searches.map(\.row)).sorted {
                ($0.usdPerMillionOutputTokens ?? .infinity) < ($1.usdPerMillionOutputTokens ?? .infinity)
            }
            return "<h3>\(htmlEscaped(group.title))</h3>" + table(
                ["system", "$/hour", "GPUs", "out tok/s at capacity", "$/M out tok"],
                rows.map { [$0.system, fixed($0.usdPerHour), $0.gpus.map(String.init) ?? "-", fixed($0.outputTokensPerS, 0), fixed($0.usdPerMillionOutputTokens)] },
                numeric: [1, 2, 3, 4])
        }.joined() + "<p class=\"note\">At the capacity's output token rate; systems without a price show -.</p>"
    }
}
