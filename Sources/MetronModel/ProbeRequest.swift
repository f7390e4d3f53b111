import Foundation

/// Which probe to run: a target rate; how many probes at this same rate came before it in the
/// search (`attempt`: each gets its own plan, so a repeat is an independent draw); how many times
/// this one probe was measured again because the client could not keep to its plan (`retry`: the
/// same plan again, so that probes of different systems stay paired); and whether it only brackets
/// the capacity (fewer requests: it needs a verdict, not a precise value).
public struct ProbeRequest: Sendable, Hashable, Codable {
    /// Requests per second, rounded to 0.001 so that names and cache keys are stable.
    public var rate: Double
    public var attempt: Int
    public var retry: Int
    public var bracketing: Bool

    public init(rate: Double, attempt: Int = 0, retry: Int = 0, bracketing: Bool = false) {
        self.rate = ProbeRequest.round(rate)
        self.attempt = attempt
        self.retry = retry
        self.bracketing = bracketing
    }

    enum CodingKeys: String, CodingKey { case rate, attempt, retry, bracketing }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(rate: try c.decode(Double.self, forKey: .rate), attempt: try c.decode(Int.self, forKey: .attempt),
                  retry: try c.decodeIfPresent(Int.self, forKey: .retry) ?? 0,
                  bracketing: try c.decodeIfPresent(Bool.self, forKey: .bracketing) ?? false)
    }

    public static func round(_ rate: Double) -> Double { (rate * 1000).rounded() / 1000 }

    /// The probe's directory name, e.g. `rate-4.000`, `rate-4.000-attempt-1`, `rate-4.000-retry-1` or
    /// `rate-4.000-bracketing`.
    public var directoryName: String {
        String(format: "rate-%.3f", rate) + (attempt == 0 ? "" : "-attempt-\(attempt)") + (retry == 0 ? "" : "-retry-\(retry)")
            + (bracketing ? "-bracketing" : "")
    }
}

extension ProbeRequest {
    /// The workload seed for this probe, derived from the workload's seed, the rate and the attempt:
    /// the same probe replays the same plan on every system, and a repeat gets its own.
    ///
    /// Different rates get independent plans. A seeded Poisson plan is one sequence of unit-rate gaps
    /// scaled by `1 / rate`, so with one seed for every rate all the probes of a search would replay
    /// the same arrival pattern, stretched: a lucky (or unlucky) pattern would then move every probe
    /// the same way, and the interval, which treats the probes as independent samples, would be far too
    /// narrow (in the accuracy benchmark, docs/BENCHMARKS.md, it contained the true capacity in 69 of 120
    /// searches, against 109 of 120 with a plan per rate).
    /// With `perRate: false` the first attempt at every rate takes the workload's own seed.
    public func seed(workloadSeed: UInt64, perRate: Bool = true) -> UInt64 {
        if !perRate && attempt == 0 { return workloadSeed }
        var z = workloadSeed &+ UInt64(max(0, (rate * 1000).rounded())) &* 0x9E37_79B9_7F4A_7C15
            &+ UInt64(attempt) &* 0xD1B5_4A32_D192_ED03
        // SplitMix64's finaliser: nearby inputs give unrelated seeds.
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
