import Foundation
import MetronStats
import MetronSearch

/// One system's capacity in a sweep, with its cost figures.
public struct SystemCapacity: Sendable, Equatable, Codable {
    public var system: String
    /// nil when the search found no sustainable rate.
    public var maxQPS: Double?
    public var ciLow: Double?
    public var ciHigh: Double?
    /// Output tokens per second at `maxQPS`.
    public var outputTokensPerS: Double?
    public var gpus: Int?
    public var usdPerHour: Double?
    /// Whether `ciLow ... ciHigh` is a confidence interval (false for a bracket between probes).
    public var statisticalInterval: Bool
    /// The confidence level of that interval.
    public var confidence: Double
    /// Why the data do not pin the capacity down, when they do not: then there is no `maxQPS`, and
    /// `ciLow ... ciHigh` is where the capacity lies at `confidence`, either end nil where nothing bounds it.
    public var undetermined: String?
    /// This system against the next one down the ranking on shared plans, when the sweep compared them.
    public var pairedWithNext: PairedWithNext?

    public init(
        system: String, maxQPS: Double?, ciLow: Double?, ciHigh: Double?, outputTokensPerS: Double?,
        gpus: Int?, usdPerHour: Double?, statisticalInterval: Bool = false, confidence: Double = 0.95,
        undetermined: String? = nil, pairedWithNext: PairedWithNext? = nil
    ) {
        self.undetermined = undetermined
        self.pairedWithNext = pairedWithNext
        self.system = system
        self.maxQPS = maxQPS
        self.ciLow = ciLow
        self.ciHigh = ciHigh
        self.outputTokensPerS = outputTokensPerS
        self.gpus = gpus
        self.usdPerHour = usdPerHour
        self.statisticalInterval = statisticalInterval
        self.confidence = confidence
    }

    public var qpsPerGPU: Double? {
        guard let q = maxQPS, let g = gpus, g > 0 else { return nil }
        return q / Double(g)
    }

    /// Dollars per million output tokens when running at capacity.
    public var usdPerMillionOutputTokens: Double? {
        guard let price = usdPerHour, let tps = outputTokensPerS, tps > 0 else { return nil }
        return price / (tps * 3600) * 1_000_000
    }

    /// The standard error of ln(maxQPS), from the interval on the log scale: the wider of its two
    /// halves over z. A profile-likelihood interval is close to symmetric in ln(rate), so taking the
    /// wider half costs little and never understates the uncertainty. Nil when the interval is not a
    /// statistical one or either end is missing, not positive, or on the wrong side of the estimate.
    public var logStandardError: Double? {
        guard statisticalInterval, let q = maxQPS, let lo = ciLow, let hi = ciHigh,
              lo > 0, lo <= q, q <= hi, hi.isFinite, confidence > 0, confidence < 1 else { return nil }
        let z = Stats.normalQuantile(1 - (1 - confidence) / 2)
        return max(log(q) - log(lo), log(hi) - log(q)) / z
    }

    /// The interval as text: "lo .. hi", "lo .. unbounded", "below hi" (nothing sustained),
    /// "not determined (lo .. hi)" (or "at least lo", "at most hi", "no bound"), or "-".
    public var intervalText: String {
        if undetermined != nil {
            let range = ciLow.map { lo in ciHigh.map { "\(CapacityTable.fixed(lo)) .. \(CapacityTable.fixed($0))" }
                ?? "at least \(CapacityTable.fixed(lo))" } ?? ciHigh.map { "at most \(CapacityTable.fixed($0))" } ?? "no bound"
            return "not determined (\(range))"
        }
        switch (ciLow, ciHigh) {
        case let (lo?, hi?) where maxQPS != nil: return "\(CapacityTable.fixed(lo)) .. \(CapacityTable.fixed(hi))"
        case let (lo?, nil): return "\(CapacityTable.fixed(lo)) .. unbounded"
        case let (_, hi?): return "below \(CapacityTable.fixed(hi))"
        case (nil, nil): return "-"
        }
    }
}

/// One system's capacity over the next one's down the ranking, with a confidence interval for the
/// ratio and whether it shows a difference.
///
/// When the sweep probed the two on shared plans (`PairedComparison`), the ratio and its interval are
/// the paired ones. Otherwise ln(q1 / q2) has standard error sqrt(se1^2 + se2^2), each se taken from
/// that search's own interval (`SystemCapacity.logStandardError`), so the interval is
/// exp(ln(q1 / q2) +/- z sqrt(se1^2 + se2^2)).
/// The two searches are treated as independent. Every system replays the same probe plans, which makes
/// their estimates positively correlated; a paired estimate would subtract that covariance, so this
/// interval is conservative (wider than a paired one): it calls a difference less often than a paired
/// test would, never more often.
public struct CapacityRatio: Sendable, Equatable {
    /// q1 / q2, when both capacities are known and positive.
    public var ratio: Double?
    public var ciLow: Double?
    public var ciHigh: Double?
    /// true: the ratio's interval lies above 1; false: it contains 1; nil: no test was possible.
    public var higher: Bool?
    /// Two brackets between probes that do not overlap: a difference, but not a statistical test.
    public var bracketsApart: Bool
    /// Why there is no ratio interval, when there is none.
    public var noTest: String?
    /// The paired comparison the ratio comes from, when it does.
    public var paired: PairedComparison?

    public init(_ r: SystemCapacity, over next: SystemCapacity, confidence: Double = 0.95) {
        bracketsApart = false
        if let p = r.pairedWithNext, p.system == next.system, p.comparison.noTest == nil, r.undetermined == nil,
           next.undetermined == nil {
            paired = p.comparison
            ratio = p.comparison.ratio
            ciLow = p.comparison.ciLow
            ciHigh = p.comparison.ciHigh
            higher = p.comparison.higher
            return
        }
        if let q1 = r.maxQPS, let q2 = next.maxQPS, q1 > 0, q2 > 0 { ratio = q1 / q2 }
        if let why = Self.noTestReason(r) ?? Self.noTestReason(next) {
            noTest = why
            if !r.statisticalInterval, !next.statisticalInterval, let lo = r.ciLow, let hi = next.ciHigh,
               r.maxQPS != nil, next.maxQPS != nil, lo > hi {
                bracketsApart = true
            }
            return
        }
        guard let ratio, let se1 = r.logStandardError, let se2 = next.logStandardError,
              confidence > 0, confidence < 1 else {
            noTest = "no usable interval"
            return
        }
        let z = Stats.normalQuantile(1 - (1 - confidence) / 2)
        let half = z * (se1 * se1 + se2 * se2).squareRoot()
        ciLow = exp(log(ratio) - half)
        ciHigh = exp(log(ratio) + half)
        higher = ciLow.map { $0 > 1 }
    }

    /// Why a capacity supports no ratio interval, or nil when it does.
    static func noTestReason(_ c: SystemCapacity) -> String? {
        if c.undetermined != nil { return "\(c.system)'s capacity is not determined" }
        guard let q = c.maxQPS, q > 0 else { return "\(c.system) has no capacity" }
        guard let lo = c.ciLow, let hi = c.ciHigh else {
            return "\(c.system)'s interval is unbounded \(c.ciLow == nil ? "below" : "above")"
        }
        guard c.statisticalInterval else { return "\(c.system)'s interval is a bracket between probes, not a statistical interval" }
        guard lo > 0 else { return "\(c.system)'s interval reaches 0" }
        guard lo <= q, q <= hi, hi.isFinite else { return "\(c.system)'s interval does not contain its estimate" }
        return nil
    }
}

/// `capacity.csv` and the terminal ranking of a sweep.
public enum CapacityTable {
    public static let csvHeader = [
        "system", "max_qps", "ci_low", "ci_high", "output_tokens_per_s", "gpus", "usd_per_hour",
        "qps_per_gpu", "usd_per_million_output_tokens",
        "ratio_to_next", "ratio_ci_low", "ratio_ci_high", "higher_than_next", "ratio_paired_plans",
    ]

    /// Rows in the order given; each row's ratio is to the next system down the ranking of its own
    /// table (`tables[i]` names row i's table, e.g. its workload and SLO; nil: one table). The last
    /// system of a table has none.
    public static func csv(_ rows: [SystemCapacity], tables: [String]? = nil, confidence: Double = 0.95) -> String {
        let ratios = ratiosToNext(rows, tables: tables, confidence: confidence)
        var lines = [csvHeader.joined(separator: ",")]
        for (i, r) in rows.enumerated() {
            let ratio = ratios[i]
            let fields: [String] = [
                csvField(r.system), number(r.maxQPS), number(r.ciLow), number(r.ciHigh), number(r.outputTokensPerS),
                r.gpus.map(String.init) ?? "", number(r.usdPerHour), number(r.qpsPerGPU),
                number(r.usdPerMillionOutputTokens),
                number(ratio?.ratio), number(ratio?.ciLow), number(ratio?.ciHigh),
                ratio?.higher.map { $0 ? "true" : "false" } ?? "",
                ratio?.paired.map { String($0.first.count) } ?? "",
            ]
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func writeCSV(_ rows: [SystemCapacity], tables: [String]? = nil, confidence: Double = 0.95, to url: URL) throws {
        try AtomicWrite.text(csv(rows, tables: tables, confidence: confidence), to: url)
    }

    /// For each row, its ratio to the next system down the ranking of the same table (nil for the
    /// last, and for a system without a capacity).
    public static func ratiosToNext(_ rows: [SystemCapacity], tables: [String]? = nil, confidence: Double = 0.95) -> [CapacityRatio?] {
        var result = [CapacityRatio?](repeating: nil, count: rows.count)
        for (a, b) in neighbours(rows, tables: tables) where rows[a].maxQPS != nil {
            result[a] = CapacityRatio(rows[a], over: rows[b], confidence: confidence)
        }
        return result
    }

    /// Each row with the next one down the ranking of its own table (`tables[i]` names row i's table;
    /// nil: one table), as indices into `rows`, tables in the order they first appear.
    public static func neighbours(_ rows: [SystemCapacity], tables: [String]? = nil) -> [(higher: Int, next: Int)] {
        precondition(tables == nil || tables?.count == rows.count, "one table name per row")
        var members: [String: [Int]] = [:]
        var order: [String] = []
        for i in rows.indices {
            let key = tables?[i] ?? ""
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(i)
        }
        return order.flatMap { key -> [(higher: Int, next: Int)] in
            let indices = members[key] ?? []
            let ranked = rankedIndices(indices.map { rows[$0] }).map { indices[$0] }
            return zip(ranked, ranked.dropFirst()).map { (higher: $0, next: $1) }
        }
    }

    /// Systems by capacity, highest first; systems without a capacity last.
    public static func ranked(_ rows: [SystemCapacity]) -> [SystemCapacity] {
        rankedIndices(rows).map { rows[$0] }
    }

    static func rankedIndices(_ rows: [SystemCapacity]) -> [Int] {
        rows.enumerated().sorted { a, b in
            switch (a.element.maxQPS, b.element.maxQPS) {
            case let (x?, y?): return x != y ? x > y : a.offset < b.offset
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.offset < b.offset
            }
        }.map(\.offset)
    }

    /// A plain-text ranking: each system against the next one down, with the ratio test's verdict.
    public static func ranking(_ rows: [SystemCapacity], confidence: Double = 0.95) -> String {
        let ranked = ranked(rows)
        let header = ["#", "system", "max QPS", "\(Int((confidence * 100).rounded())) % interval", "QPS/GPU",
                      "out tok/s", "$/M out tok", "vs next"]
        var table: [[String]] = []
        for (i, r) in ranked.enumerated() {
            let versus = i + 1 < ranked.count ? comparison(r, ranked[i + 1], confidence: confidence) : ""
            table.append([
                "\(i + 1)", r.system, r.maxQPS.map(fixed) ?? (r.undetermined == nil ? "none" : "?"), r.intervalText, r.qpsPerGPU.map(fixed) ?? "-",
                r.outputTokensPerS.map { fixed($0, 0) } ?? "-", r.usdPerMillionOutputTokens.map(fixed) ?? "-", versus,
            ])
        }
        return TextTable.render(header: header, rows: table)
    }

    /// How a system compares with the next one down the ranking, in words ("" when it has no capacity):
    /// "1.12x next [1.03, 1.22]: higher than B" when the ratio's interval excludes 1, "...: not
    /// distinguishable from B" when it contains 1, and "no claim against B (why)" when there is no
    /// ratio interval. Two disjoint brackets between probes read "higher than B (brackets apart, not a
    /// statistical test)": bisection gives nothing better, and a pass above a failure is still evidence.
    public static func comparison(_ r: SystemCapacity, _ next: SystemCapacity, confidence: Double = 0.95) -> String {
        if r.maxQPS == nil { return "" }
        let c = CapacityRatio(r, over: next, confidence: confidence)
        var ratio = c.ratio.map { String(format: "%.2fx next", $0) } ?? "no ratio"
        if let lo = c.ciLow, let hi = c.ciHigh { ratio += String(format: " [%.2f, %.2f]", lo, hi) }
        if let p = c.paired { ratio += String(format: " (paired: %d plans at %.2f)", p.first.count, p.rate) }
        switch c.higher {
        case true?: return "\(ratio): higher than \(next.system)"
        case false?: return "\(ratio): not distinguishable from \(next.system)"
        case nil where c.bracketsApart: return "\(ratio): higher than \(next.system) (brackets apart, not a statistical test)"
        case nil: return "\(ratio): no claim against \(next.system) (\(c.noTest ?? "no ratio interval"))"
        }
    }

    static func number(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "" }
        return String(format: "%.6g", x)
    }

    static func fixed(_ x: Double) -> String { fixed(x, 2) }
    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    /// RFC 4180 quoting for fields that need it.
    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Left-aligned columns separated by two spaces, with a rule under the header.
public enum TextTable {
    public static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0.indices.contains(c) ? $0[c].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, s in
                c == cells.count - 1 ? s : s.padding(toLength: widths[c], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}
