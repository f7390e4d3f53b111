import Foundation

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

    public init(
        system: String, maxQPS: Double?, ciLow: Double?, ciHigh: Double?, outputTokensPerS: Double?,
        gpus: Int?, usdPerHour: Double?
    ) {
        self.system = system
        self.maxQPS = maxQPS
        self.ciLow = ciLow
        self.ciHigh = ciHigh
        self.outputTokensPerS = outputTokensPerS
        self.gpus = gpus
        self.usdPerHour = usdPerHour
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

    /// Whether this system's capacity is significantly above `other`'s: this one's interval lies
    /// wholly above the other's. Two non-overlapping 95 % intervals imply a difference at about the
    /// 0.5 % level, a conservative test that needs nothing beyond the intervals themselves. A side
    /// the data do not bound (nil) supports no claim, and neither does a point estimate.
    public func significantlyAbove(_ other: SystemCapacity) -> Bool {
        guard let low = ciLow, let otherHigh = other.ciHigh, maxQPS != nil else { return false }
        return low > otherHigh
    }

    /// The interval as text: "lo .. hi", "lo .. unbounded", "below hi" (nothing sustained), or "-".
    public var intervalText: String {
        switch (ciLow, ciHigh) {
        case let (lo?, hi?) where maxQPS != nil: return "\(CapacityTable.fixed(lo)) .. \(CapacityTable.fixed(hi))"
        case let (lo?, nil): return "\(CapacityTable.fixed(lo)) .. unbounded"
        case let (_, hi?): return "below \(CapacityTable.fixed(hi))"
        case (nil, nil): return "-"
        }
    }
}

/// `capacity.csv` and the terminal ranking of a sweep.
public enum CapacityTable {
    public static let csvHeader = [
        "system", "max_qps", "ci_low", "ci_high", "output_tokens_per_s", "gpus", "usd_per_hour",
        "qps_per_gpu", "usd_per_million_output_tokens",
    ]

    public static func csv(_ rows: [SystemCapacity]) -> String {
        var lines = [csvHeader.joined(separator: ",")]
        for r in rows {
            let fields: [String] = [
                csvField(r.system), number(r.maxQPS), number(r.ciLow), number(r.ciHigh), number(r.outputTokensPerS),
                r.gpus.map(String.init) ?? "", number(r.usdPerHour), number(r.qpsPerGPU),
                number(r.usdPerMillionOutputTokens),
            ]
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func writeCSV(_ rows: [SystemCapacity], to url: URL) throws {
        try AtomicWrite.text(csv(rows), to: url)
    }

    /// Systems by capacity, highest first; systems without a capacity last.
    public static func ranked(_ rows: [SystemCapacity]) -> [SystemCapacity] {
        rows.enumerated().sorted { a, b in
            switch (a.element.maxQPS, b.element.maxQPS) {
            case let (x?, y?): return x != y ? x > y : a.offset < b.offset
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.offset < b.offset
            }
        }.map(\.element)
    }

    /// A plain-text ranking: each system against the next one down, with a significance verdict.
    public static func ranking(_ rows: [SystemCapacity], confidence: Double = 0.95) -> String {
        let ranked = ranked(rows)
        let header = ["#", "system", "max QPS", "\(Int((confidence * 100).rounded())) % interval", "QPS/GPU",
                      "out tok/s", "$/M out tok", "vs next"]
        var table: [[String]] = []
        for (i, r) in ranked.enumerated() {
            let versus = i + 1 < ranked.count ? comparison(r, ranked[i + 1]) : ""
            table.append([
                "\(i + 1)", r.system, r.maxQPS.map(fixed) ?? "none", r.intervalText, r.qpsPerGPU.map(fixed) ?? "-",
                r.outputTokensPerS.map { fixed($0, 0) } ?? "-", r.usdPerMillionOutputTokens.map(fixed) ?? "-", versus,
            ])
        }
        return TextTable.render(header: header, rows: table)
    }

    /// How a system compares with the next one down the ranking, in words ("" when it has no capacity).
    public static func comparison(_ r: SystemCapacity, _ next: SystemCapacity) -> String {
        if r.maxQPS == nil { return "" }
        if r.significantlyAbove(next) { return "higher than \(next.system) (intervals apart)" }
        if r.ciLow == nil || next.ciHigh == nil { return "not distinguishable from \(next.system) (an interval is unbounded)" }
        return "not distinguishable from \(next.system) (intervals overlap)"
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
