import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronStats

/// A probe runner with a known capacity, for tests and benchmarks of the search: each request meets
/// its deadlines with probability `attainment(rate)` (binomial noise, seeded per probe), and the
/// records are built so that the real fluidity computation sees exactly that.
///
/// With the default deadlines (D_p 0.3 s, D_d 0.03 s), a meeting request has TTFT 0.1 s and 20 ms
/// between tokens (fluidity 1); a missing one stalls 100 ms between tokens (fluidity far below 0.9).
/// With `burst` above 1, misses come in runs of that many consecutive requests, as the bursts of a
/// real server make them: a probe's attainment then varies `burst` times more than a binomial count.
public struct ScriptedProbeRunner: ProbeRunner {
    /// Probability that one request meets its deadlines at a rate.
    public var attainment: @Sendable (Double) -> Double
    /// Fraction of requests that fail (HTTP 503) at a rate.
    public var errorRate: @Sendable (Double) -> Double
    /// Achieved over target rate (below 1: the client fell behind).
    public var sendRateFactor: @Sendable (Double) -> Double
    /// Seconds TTFT grows per second of the window at a rate (backlog).
    public var ttftGrowth: @Sendable (Double) -> Double
    public var measurementS: Double
    /// The window is stretched so that every probe has at least this many requests.
    public var minRequests: Int
    public var outputTokens: Int
    public var seed: UInt64
    public var simulated: Bool
    public var burst: Int

    public init(
        attainment: @escaping @Sendable (Double) -> Double,
        errorRate: @escaping @Sendable (Double) -> Double = { _ in 0 },
        sendRateFactor: @escaping @Sendable (Double) -> Double = { _ in 1 },
        ttftGrowth: @escaping @Sendable (Double) -> Double = { _ in 0 },
        measurementS: Double = 60, minRequests: Int = 100, outputTokens: Int = 10, seed: UInt64 = 1, simulated: Bool = false,
        burst: Int = 1
    ) {
        self.attainment = attainment
        self.errorRate = errorRate
        self.sendRateFactor = sendRateFactor
        self.ttftGrowth = ttftGrowth
        self.measurementS = measurementS
        self.minRequests = minRequests
        self.outputTokens = outputTokens
        self.seed = seed
        self.simulated = simulated
        self.burst = burst
    }

    /// A logistic ground truth: attainment 1/2 at `midpoint`, dropping over `scale` req/s.
    public static func logistic(midpoint: Double, scale: Double) -> @Sendable (Double) -> Double {
        { r in 1 / (1 + exp((r - midpoint) / scale)) }
    }

    /// The rate at which a logistic ground truth reaches `level`.
    public static func capacity(midpoint: Double, scale: Double, level: Double) -> Double {
        midpoint + scale * log((1 - level) / level)
    }

    public func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        measure(request)
    }

    public func measure(_ request: ProbeRequest) -> ProbeMeasurement {
        let rate = request.rate
        // Independent of probe order: the stream depends only on (seed, rate, attempt).
        let rng = RandomSource(seed: seed &* 1_000_003 &+ UInt64(rate * 1000) &* 7919 &+ UInt64(request.attempt))
        // Bracketing probes have a third of the window, as `ProbeWindow`'s default makes them.
        let window = max(request.bracketing ? measurementS / 3 : measurementS, Double(minRequests) / rate)
        let count = max(1, Int((rate * window).rounded()))
        let sendGap = 1 / (rate * sendRateFactor(rate))
        let failing = rng.binomial(p: errorRate(rate), trials: count)
        let meeting = rng.binomial(p: attainment(rate), trials: count - failing)
        // Which requests miss or fail: a seeded shuffle of the indices.
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.integer(in: 0...i)) }
        let failed = Set(order.prefix(failing))
        var missing = Set(order.dropFirst(failing).prefix(max(0, count - failing - meeting)))
        if burst > 1 {
            let runs = count / burst
            var starts = Array(0..<runs)
            for i in stride(from: runs - 1, to: 0, by: -1) { starts.swapAt(i, rng.integer(in: 0...i)) }
            let missed = rng.binomial(p: 1 - attainment(rate), trials: runs)
            missing = Set(starts.prefix(missed).flatMap { ($0 * burst)..<(($0 + 1) * burst) }).subtracting(failed)
        }
        var records: [RequestRecord] = []
        records.reserveCapacity(count)
        for i in 0..<count {
            let scheduled = Double(i) / rate
            let sent = Double(i) * sendGap
            if failed.contains(i) {
                records.append(RequestRecord(id: i, scheduledS: scheduled, sentS: sent, requestedPromptTokens: 256,
                                             requestedOutputTokens: outputTokens, status: .httpError, httpStatus: 503,
                                             error: "service unavailable"))
                continue
            }
            let ttft = 0.1 + ttftGrowth(rate) * scheduled
            let gap = missing.contains(i) ? 0.1 : 0.02
            let times = (0..<outputTokens).map { sent + ttft + Double($0) * gap }
            records.append(RequestRecord(
                id: i, scheduledS: scheduled, sentS: sent, chunkTimesS: times,
                chunkTokens: Array(repeating: 1, count: outputTokens), requestedPromptTokens: 256,
                requestedOutputTokens: outputTokens, promptTokens: 256, outputTokens: outputTokens))
        }
        return ProbeMeasurement(request: request, records: records, windowStartS: 0, windowEndS: window,
                                simulated: simulated)
    }
}
