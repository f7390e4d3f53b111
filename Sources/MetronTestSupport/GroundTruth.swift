import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronSimModel

/// The capacity of a simulated system, measured the long way: many runs at every rate of a fine grid,
/// in virtual time, judged exactly as the search judges its probes.
///
/// The fitted search estimates the rate where the expected attainment of a probe (the fraction of
/// requests meeting the SLO, rescaled to the SLO's level; for an invalid probe at most one request short
/// of the level) falls to `slo.attainmentLevel`. Here that attainment is pooled over `probesPerRate`
/// runs at each grid rate (weighted by requests, each run with its own workload seed), and the capacity
/// is the rate above which it stays under the level, interpolated linearly between the two grid rates
/// around the last crossing. The runs' window is the planner's: `metron-bench accuracy` uses runs of
/// 600 s, so the truth is what a long steady run sustains, not what one short probe happens to see. The
/// rate where half of the runs pass is reported beside it.
public struct VirtualGroundTruth: Sendable {
    public var config: SimulatorConfig
    public var planner: ProbePlanner
    public var slo: SLO
    public var rules: ValidityRules
    public var probesPerRate: Int
    /// Seeds of the ground truth's probes start here; keep them apart from the searches' seeds.
    public var seedBase: UInt64

    public init(config: SimulatorConfig, planner: ProbePlanner, slo: SLO, rules: ValidityRules, probesPerRate: Int,
                seedBase: UInt64 = 1_000_000) {
        self.config = config
        self.planner = planner
        self.slo = slo
        self.rules = rules
        self.probesPerRate = probesPerRate
        self.seedBase = seedBase
    }

    /// One grid rate: attainment pooled over its probes (weighted by requests), and the fraction of
    /// its probes that passed.
    public struct Point: Sendable, Equatable {
        public var rate: Double
        public var attainment: Double
        public var passFraction: Double
        public var validFraction: Double
        public var probes: Int
        /// Standard error of the pooled attainment, from the spread of the runs' attainments (a ratio
        /// estimator: runs with more requests weigh more); 0 with a single run.
        public var standardError: Double = 0
    }

    public struct Result: Sendable, Equatable {
        public var points: [Point]
        /// Where the pooled attainment crosses the SLO's level; nil when it does not within the grid.
        public var capacity: Double?
        /// Where the fraction of passing probes falls through one half; nil when it does not.
        public var medianPassRate: Double?
    }

    /// Measures one rate.
    public func point(rate: Double) throws -> Point {
        var runner = VirtualProbeRunner(config: config, planner: planner, drainGraceS: rules.drainGraceS)
        var weighted = 0.0, trials = 0, passes = 0, valid = 0
        var runs: [(attainment: Double, trials: Double)] = []
        for k in 0..<probesPerRate {
            runner.planner.workload.seed = seedBase &+ UInt64(k) &* 7919
            let (plan, start, end) = try runner.planner.plan(ProbeRequest(rate: rate))
            let records = try simulateInVirtualTime(plan, config: config, drainLimitS: end + rules.drainGraceS)
            let measurement = ProbeMeasurement(
                request: ProbeRequest(rate: rate), records: records, windowStartS: start, windowEndS: end, simulated: true)
            let result = ProbeResult(measurement, slo: slo, rules: rules)
            let point = result.attainmentPoint
            weighted += point.attainment * Double(point.trials)
            trials += point.trials
            runs.append((point.attainment, Double(point.trials)))
            if result.passed { passes += 1 }
            if result.valid { valid += 1 }
        }
        let n = Double(probesPerRate)
        let pooled = trials == 0 ? 0 : weighted / Double(trials)
        var standardError = 0.0
        if runs.count > 1, trials > 0 {
            let k = Double(runs.count)
            let squares = runs.reduce(0.0) { $0 + $1.trials * $1.trials * ($1.attainment - pooled) * ($1.attainment - pooled) }
            standardError = (k / (k - 1) * squares).squareRoot() / Double(trials)
        }
        return Point(rate: rate, attainment: pooled, passFraction: Double(passes) / n, validFraction: Double(valid) / n,
                     probes: probesPerRate, standardError: standardError)
    }

    /// Measures every rate of `grid` (ascending) and finds the crossings.
    public func measure(grid: [Double]) throws -> Result {
        let points = try grid.sorted().map { try point(rate: $0) }
        return Result(points: points,
                      capacity: Self.crossing(points.map { ($0.rate, $0.attainment) }, level: slo.attainmentLevel),
                      medianPassRate: Self.crossing(points.map { ($0.rate, $0.passFraction) }, level: 0.5))
    }

    /// Where `values` fall below `level` for good: between the highest grid rate still at or above
    /// the level and the next one, interpolated linearly; nil when no rate reaches the level or the
    /// last one still does. (Not the first fall: a rare invalid probe, for example one whose achieved
    /// rate strays, can pull the pooled attainment of a low rate under a level as high as 0.99.)
    public static func crossing(_ values: [(Double, Double)], level: Double) -> Double? {
        guard let last = values.lastIndex(where: { $0.1 >= level }), last + 1 < values.count else { return nil }
        let (a, b) = (values[last], values[last + 1])
        return a.0 + (b.0 - a.0) * (a.1 - level) / (a.1 - b.1)
    }

    /// A coarse scan then a fine one: `coarseStep` from `coarseStep` up to `maxRate` with
    /// `coarseProbes` probes per rate to find the neighbourhood, then `fineStep` over
    /// `fineSpan` either side of the coarse crossing with the full number of probes.
    public func locate(maxRate: Double, coarseStep: Double, coarseProbes: Int, fineStep: Double,
                       fineSpan: Double, log: (Point) -> Void = { _ in }) throws -> Result {
        var coarse = self
        coarse.probesPerRate = coarseProbes
        var points: [(Double, Double)] = []
        var rate = coarseStep
        while rate <= maxRate {
            let p = try coarse.point(rate: rate)
            log(p)
            points.append((rate, p.attainment))
            let reached = points.contains { $0.1 >= slo.attainmentLevel }
            if reached && p.attainment < slo.attainmentLevel && p.passFraction == 0 { break }
            rate += coarseStep
        }
        guard let rough = Self.crossing(points, level: slo.attainmentLevel) else {
            return Result(points: [], capacity: nil, medianPassRate: nil)
        }
        let low = max(fineStep, ((rough - fineSpan) / fineStep).rounded(.down) * fineStep)
        let grid = stride(from: low, through: rough + fineSpan, by: fineStep).map { ProbeRequest.round($0) }
        return try measure(grid: grid)
    }
}
