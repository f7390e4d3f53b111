import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronTestSupport
import MetronSimModel

/// True capacities, measured once and kept in a JSON file beside the configurations.
///
/// A configuration's truth is the rate where the attainment of long steady runs, pooled over several
/// runs (each with its own workload seed) and judged exactly as the search judges its probes
/// (`VirtualGroundTruth`), falls to the SLO's level. Finding it: a coarse scan of short runs by
/// factors of `coarseFactor` from the start rate brackets the crossing; long runs then check both ends
/// of the bracket (moving it while they disagree) and bisect it until it is narrower than `precision`
/// of its lower end; `GroundTruthSearch.estimate` places the truth and its standard error from the
/// long runs near the final bracket.
struct TruthSettings: Sendable, Codable {
    var runsPerRate = 20
    /// Each long run's window: at least this long, and long enough for `runRequests` requests.
    var runDurationS = 600.0
    var runRequests = 6000.0
    var coarseRuns = 4
    var coarseDurationS = 120.0
    var coarseFactor = 1.25
    var precision = 0.01
    var warmupS = 10.0

    enum CodingKeys: String, CodingKey {
        case runsPerRate = "runs_per_rate", runDurationS = "run_duration_s", runRequests = "run_requests"
        case coarseRuns = "coarse_runs", coarseDurationS = "coarse_duration_s", coarseFactor = "coarse_factor"
        case precision, warmupS = "warmup_s"
    }
}

struct TruthPoint: Codable, Sendable {
    var rate: Double
    var attainment: Double
    var standardError: Double
    var passFraction: Double
    var validFraction: Double
    var runs: Int
    var windowS: Double

    enum CodingKeys: String, CodingKey {
        case rate, attainment, runs
        case standardError = "standard_error", passFraction = "pass_fraction", validFraction = "valid_fraction"
        case windowS = "window_s"
    }
}

struct TruthRecord: Codable, Sendable {
    var name: String
    var file: String
    var truthQPS: Double
    /// One standard error of the truth, from the spread of the long runs' attainments; nil when the
    /// long runs near the crossing show no drop to divide by.
    var standardErrorQPS: Double?
    var level: Double
    var settings: TruthSettings
    var points: [TruthPoint]
    var coarsePoints: [TruthPoint]
    var seconds: Double
    var command: String
    var computedAt: String

    var relativeStandardError: Double? { standardErrorQPS.map { $0 / truthQPS } }

    /// "0.123 (1.2 %)", or "-" when it is unknown.
    var uncertaintyText: String {
        guard let se = standardErrorQPS, let rel = relativeStandardError else { return "-" }
        return String(format: "%.3f (%.1f %%)", se, rel * 100)
    }

    enum CodingKeys: String, CodingKey {
        case name, file, level, settings, points, seconds, command
        case truthQPS = "truth_qps", standardErrorQPS = "standard_error_qps", coarsePoints = "coarse_points"
        case computedAt = "computed_at"
    }
}

struct TruthsFile: Codable, Sendable {
    var method = "pooled attainment of long steady runs (VirtualGroundTruth), bracketed by a coarse scan of short runs, "
        + "then bisected with long runs; truth = where a least-squares line through the long runs within 10 % of the final "
        + "bracket crosses the level; standard error = those runs' mean standard error of pooled attainment / the line's slope"
    var configurations: [TruthRecord] = []

    static func read(_ path: String) -> TruthsFile? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(TruthsFile.self, from: data)
    }

    func write(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }

    subscript(name: String) -> TruthRecord? { configurations.first { $0.name == name } }

    mutating func store(_ record: TruthRecord) {
        configurations.removeAll { $0.name == record.name }
        configurations.append(record)
        configurations.sort { $0.name < $1.name }
    }
}

enum GroundTruthSearch {
    static func measure(_ c: BenchConfiguration, settings s: TruthSettings, command: String,
                        log: @Sendable (String) -> Void) throws -> TruthRecord {
        let started = now()
        let rules = ValidityRules(), level = c.slo.attainmentLevel

        func point(_ rate: Double, runs: Int, minimumS: Double, requests: Double) throws -> TruthPoint {
            var window = ProbeWindow()
            window.warmupS = s.warmupS
            window.durationS = max(minimumS, requests / rate)
            let planner = ProbePlanner(workload: c.workload, window: window, minRequests: rules.minRequests)
            let p = try VirtualGroundTruth(config: c.simulator, planner: planner, slo: c.slo, rules: rules, probesPerRate: runs)
                .point(rate: rate)
            return TruthPoint(rate: rate, attainment: p.attainment, standardError: p.standardError, passFraction: p.passFraction,
                              validFraction: p.validFraction, runs: runs, windowS: window.durationS ?? 0)
        }
        func line(_ kind: String, _ p: TruthPoint) -> String {
            String(format: "%@ %@ %8.3f req/s  attainment %.5f +- %.5f  pass %.2f  valid %.2f  (%d x %.0f s)",
                   c.name, kind, p.rate, p.attainment, p.standardError, p.passFraction, p.validFraction, p.runs, p.windowS)
        }

        // Coarse: short runs, stepping by a factor until the level is crossed.
        var coarse: [TruthPoint] = []
        func coarsePoint(_ rate: Double) throws -> TruthPoint {
            let p = try point(ProbeRequest.round(rate), runs: s.coarseRuns, minimumS: s.coarseDurationS, requests: 0)
            log(line("coarse", p))
            coarse.append(p)
            return p
        }
        var rate = c.startRate
        var first = try coarsePoint(rate)
        let up = first.attainment >= level
        while true {
            rate = up ? rate * s.coarseFactor : rate / s.coarseFactor
            guard rate > 0.005, rate < 5000 else { throw SweepError.cannotMeasure(system: c.name, "the coarse scan found no crossing") }
            let p = try coarsePoint(rate)
            if (p.attainment >= level) != up { break }
            first = p
        }
        var low = up ? first.rate : ProbeRequest.round(rate), high = up ? ProbeRequest.round(rate) : first.rate

        // Long runs: confirm both ends, then bisect.
        var points: [TruthPoint] = []
        func longPoint(_ rate: Double) throws -> TruthPoint {
            let p = try point(ProbeRequest.round(rate), runs: s.runsPerRate, minimumS: s.runDurationS, requests: s.runRequests)
            log(line("long  ", p))
            points.append(p)
            return p
        }
        var lowPoint = try longPoint(low)
        while lowPoint.attainment < level {
            high = low
            low = ProbeRequest.round(low / s.coarseFactor)
            lowPoint = try longPoint(low)
        }
        var highPoint = try longPoint(high)
        while highPoint.attainment >= level {
            low = high
            lowPoint = highPoint
            high = ProbeRequest.round(high * s.coarseFactor)
            highPoint = try longPoint(high)
        }
        while (highPoint.rate - lowPoint.rate) / lowPoint.rate > s.precision {
            let middle = ProbeRequest.round((lowPoint.rate + highPoint.rate) / 2)
            if middle <= lowPoint.rate || middle >= highPoint.rate { break }
            let p = try longPoint(middle)
            if p.attainment >= level { lowPoint = p } else { highPoint = p }
        }
        let (truth, standardError) = estimate(points, low: lowPoint, high: highPoint, level: level)
        let formatter = ISO8601DateFormatter()
        return TruthRecord(
            name: c.name, file: c.file, truthQPS: truth, standardErrorQPS: standardError, level: level, settings: s,
            points: points.sorted { $0.rate < $1.rate }, coarsePoints: coarse.sorted { $0.rate < $1.rate },
            seconds: now() - started, command: command, computedAt: formatter.string(from: Date()))
    }

    /// The truth from the long runs: where the least-squares line through the points within 10 % of
    /// the bracket `low`...`high` (at least its two ends) crosses the level, if it does among them. Two points a bisection
    /// left close together differ by little more than their noise, so a line through all the points
    /// near the crossing places it better than interpolating between the last two. Its standard error:
    /// the mean standard error of those points' attainments over the line's slope (not divided by
    /// their number: the runs of every rate share their seeds, so their errors are correlated).
    static func estimate(_ points: [TruthPoint], low: TruthPoint, high: TruthPoint, level: Double) -> (Double, Double?) {
        let interpolated = low.rate + (high.rate - low.rate) * (low.attainment - level) / (low.attainment - high.attainment)
        var near = points.filter { $0.rate >= low.rate / 1.1 && $0.rate <= high.rate * 1.1 }
        if near.count < 2 { near = [low, high] }
        guard let (slope, intercept) = leastSquaresLine(near), slope < 0 else { return (interpolated, nil) }
        let crossing = (level - intercept) / slope
        // A crossing outside the points the line rests on is an extrapolation: keep the bracket's.
        let rates = near.map(\.rate)
        let truth = crossing >= rates.min()! && crossing <= rates.max()! ? crossing : interpolated
        let attainmentError = near.map(\.standardError).reduce(0, +) / Double(near.count)
        return (truth, attainmentError / -slope)
    }

    /// The final bracket of stored long runs: the highest rate at or above the level below the lowest
    /// rate under it above that.
    static func bracket(_ points: [TruthPoint], level: Double) -> (TruthPoint, TruthPoint)? {
        let sorted = points.sorted { $0.rate < $1.rate }
        guard let lowIndex = sorted.lastIndex(where: { $0.attainment >= level }), lowIndex + 1 < sorted.count else { return nil }
        return (sorted[lowIndex], sorted[lowIndex + 1])
    }

    /// The least-squares line of attainment on rate: (slope, intercept).
    static func leastSquaresLine(_ points: [TruthPoint]) -> (Double, Double)? {
        guard points.count >= 2 else { return nil }
        let n = Double(points.count)
        let mx = points.map(\.rate).reduce(0, +) / n, my = points.map(\.attainment).reduce(0, +) / n
        let sxy = points.reduce(0.0) { $0 + ($1.rate - mx) * ($1.attainment - my) }
        let sxx = points.reduce(0.0) { $0 + ($1.rate - mx) * ($1.rate - mx) }
        guard sxx > 0 else { return nil }
        return (sxy / sxx, my - sxy / sxx * mx)
    }

    /// Truths of `configurations` from `path`, measuring (and storing) those missing, or all of them
    /// with `recompute`.
    static func truths(for configurations: [BenchConfiguration], path: String, recompute: Bool, settings: TruthSettings,
                       jobs: Int, command: String, refit: Bool = false) async throws -> [String: TruthRecord] {
        var file = TruthsFile.read(path) ?? TruthsFile()
        if refit {
            // Estimates again from the stored long runs, without running anything.
            file.method = TruthsFile().method
            for var record in file.configurations {
                guard let (low, high) = bracket(record.points, level: record.level) else { continue }
                (record.truthQPS, record.standardErrorQPS) = estimate(record.points, low: low, high: high, level: record.level)
                if !record.command.hasSuffix("--refit-truths") { record.command += "; then metron-bench accuracy --truths-only --refit-truths" }
                file.store(record)
            }
            try file.write(path)
        }
        let missing = configurations.filter { recompute || file[$0.name] == nil }
        if !missing.isEmpty {
            out("## ground truth: measuring \(missing.map(\.name).joined(separator: ", ")) (\(settings.runsPerRate) runs per rate, "
                + "each at least \(Int(settings.runDurationS)) s and \(Int(settings.runRequests)) requests; bisected to \(settings.precision * 100) %)")
            let measured = try await concurrentMap(missing, jobs: jobs) { c in
                try GroundTruthSearch.measure(c, settings: settings, command: command) { out($0) }
            }
            for record in measured {
                out(String(format: "%@: truth %.3f req/s +- %@, %d long rates, %.0f s", record.name, record.truthQPS,
                           record.uncertaintyText, record.points.count, record.seconds))
                file.store(record)
            }
            try file.write(path)
        }
        return Dictionary(uniqueKeysWithValues: configurations.compactMap { c in file[c.name].map { (c.name, $0) } })
    }
}
