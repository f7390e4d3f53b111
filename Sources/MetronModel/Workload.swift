import Foundation
import MetronStats

/// When requests arrive.
public enum ArrivalProcess: Sendable, Equatable {
    /// Exponential gaps at the rate (no clipping).
    case poisson
    /// Gamma gaps with this coefficient of variation (1 is Poisson; above 1 is burstier).
    case gamma(cv: Double)
    /// Equal gaps.
    case constant
    /// Replay arrival offsets (seconds) from a trace, keeping their sub-second pattern: time is
    /// stretched or compressed so that the trace's mean rate becomes the requested rate, and the
    /// trace repeats when the run is longer than it.
    case trace(offsets: [Double])
}

extension ArrivalProcess {
    /// A trace's own mean rate: arrivals over their span plus one mean gap (the gap that separates
    /// one repetition of the trace from the next). Nil for other processes.
    public var traceRate: Double? {
        guard case let .trace(offsets) = self, let first = offsets.min(), let last = offsets.max(), last > first
        else { return nil }
        let n = Double(offsets.count)
        return n / ((last - first) * n / (n - 1))
    }
}

/// How many tokens a request has, for prompts or outputs.
public enum LengthDistribution: Sendable, Equatable {
    case fixed(Int)
    /// Uniform integer in min...max.
    case uniform(min: Int, max: Int)
    /// P(min + i) proportional to 1 / (i + 1)^theta for i in 0...(max - min).
    case zipf(min: Int, max: Int, theta: Double)
}

/// Where request lengths come from.
public enum LengthSource: Sendable, Equatable {
    case distributions(prompt: LengthDistribution, output: LengthDistribution)
    /// (prompt, output) pairs from a trace, replayed in a seeded shuffled order.
    case trace([TraceRow])
}

/// A workload: arrivals and lengths, seeded, so the same plan is replayed on every system.
public struct WorkloadSpec: Sendable, Equatable {
    public var arrival: ArrivalProcess
    public var lengths: LengthSource
    public var promptScale: Double
    public var outputScale: Double
    /// Requests whose prompt plus output exceed this are skipped (trace) or clipped (distributions).
    public var maxTotalTokens: Int?
    /// Requests that begin with one of a few fixed prefixes; nil: every prompt is its own.
    public var sharedPrefix: SharedPrefix?
    /// Multi-turn conversations; nil: every request stands alone. With sessions the rate is sessions
    /// per second.
    public var sessions: SessionSpec?
    public var seed: UInt64

    public init(
        arrival: ArrivalProcess = .poisson,
        lengths: LengthSource = .distributions(prompt: .fixed(512), output: .fixed(128)),
        promptScale: Double = 1, outputScale: Double = 1, maxTotalTokens: Int? = nil, sharedPrefix: SharedPrefix? = nil,
        sessions: SessionSpec? = nil, seed: UInt64 = 1
    ) {
        self.sessions = sessions
        self.arrival = arrival
        self.lengths = lengths
        self.promptScale = promptScale
        self.outputScale = outputScale
        self.maxTotalTokens = maxTotalTokens
        self.sharedPrefix = sharedPrefix
        self.seed = seed
    }
}

/// The shared prefix a planned request begins with: which one, and how many of its prompt tokens it is.
public struct PlannedPrefix: Sendable, Equatable, Codable {
    public var index: Int
    public var tokens: Int

    public init(index: Int, tokens: Int) {
        self.index = index
        self.tokens = tokens
    }
}

/// One request of a plan: computed before the run, sent on schedule whatever the server does.
public struct PlannedRequest: Sendable, Equatable, Codable {
    public var id: Int
    /// Seconds from the run's start.
    public var arrival: Double
    /// Every prompt token, the shared prefix's included.
    public var promptTokens: Int
    public var outputTokens: Int
    public var sharedPrefix: PlannedPrefix?
    /// Set for a turn of a session. A turn after the first is sent when the answer before it has
    /// ended, plus its think time; its `arrival` is then the session's start.
    public var turn: PlannedTurn?

    public init(id: Int, arrival: Double, promptTokens: Int, outputTokens: Int, sharedPrefix: PlannedPrefix? = nil) {
        self.id = id
        self.arrival = arrival
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.sharedPrefix = sharedPrefix
    }

    enum CodingKeys: String, CodingKey {
        case id, arrival = "arrival_s", promptTokens = "prompt_tokens", outputTokens = "output_tokens", sharedPrefix = "shared_prefix"
        case turn
    }

    /// Prompt tokens of the request's own message, the conversation before it left out.
    public var ownPromptTokens: Int { promptTokens - (turn?.historyTokens ?? 0) }

    /// True for a turn that waits for the answer before it; such a request has no planned send time.
    public var followsAnswer: Bool { (turn?.index ?? 0) > 0 }
}

public enum WorkloadError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String {
        switch self { case let .invalid(what): return "invalid workload: \(what)" }
    }
}

extension WorkloadSpec {
    /// Requests per arrival: turns per session on average with sessions, else 1.
    public var requestsPerArrival: Double { sessions?.meanTurns ?? 1 }

    /// The arrivals in [0, duration) at `rate` requests per second, with their lengths. Lengths and
    /// arrivals use separate seeded streams, so the i-th request has the same lengths at every rate.
    public func plan(rate: Double, duration: Double) throws -> [PlannedRequest] {
        try validate(rate: rate, duration: duration)
        if let sessions { return try sessionPlan(sessions, rate: rate, duration: duration) }
        let arrivals = arrivalTimes(rate: rate, duration: duration)
        let lengths = try lengthPairs(count: arrivals.count)
        let prefixes = sharedPrefix?.assignments(count: arrivals.count, seed: seed) ?? []
        return try arrivals.enumerated().map { i, t in
            var request = PlannedRequest(id: i, arrival: t, promptTokens: lengths[i].0, outputTokens: lengths[i].1)
            if let shared = sharedPrefix, let index = prefixes[i] {
                // The request's own text (its tag, at least) follows the prefix.
                guard shared.tokens < request.promptTokens else {
                    throw WorkloadError.invalid(
                        "a shared prefix of \(shared.tokens) tokens does not fit in the prompt of request \(i) "
                            + "(\(request.promptTokens) tokens); a prefix must be shorter than every prompt that begins with it")
                }
                request.sharedPrefix = PlannedPrefix(index: index, tokens: shared.tokens)
            }
            return request
        }
    }

    func validate(rate: Double, duration: Double) throws {
        guard rate > 0, rate.isFinite else { throw WorkloadError.invalid("rate must be positive, got \(rate)") }
        guard duration > 0, duration.isFinite else {
            throw WorkloadError.invalid("duration must be positive, got \(duration)")
        }
        if case let .gamma(cv) = arrival, !(cv > 0) {
            throw WorkloadError.invalid("gamma coefficient of variation must be positive, got \(cv)")
        }
        guard promptScale > 0, outputScale > 0 else { throw WorkloadError.invalid("scale factors must be positive") }
        if case let .distributions(p, o) = lengths { try p.validate("prompt"); try o.validate("output") }
        if let problem = sharedPrefix?.problems.first { throw WorkloadError.invalid("shared prefix: \(problem)") }
        if let problem = sessions?.problems.first { throw WorkloadError.invalid("sessions: \(problem)") }
        if case let .trace(rows) = lengths, rows.isEmpty { throw WorkloadError.invalid("length trace has no rows") }
        if case let .trace(offsets) = arrival {
            guard offsets.count >= 2, offsets.allSatisfy({ $0.isFinite }), offsets.max()! > offsets.min()! else {
                throw WorkloadError.invalid("an arrival trace needs at least two distinct finite arrival times")
            }
        }
    }

    func arrivalTimes(rate: Double, duration: Double) -> [Double] {
        let rng = RandomSource(seed: seed &+ 0x9E37_79B9)
        var times: [Double] = []
        times.reserveCapacity(Int(rate * duration * 1.2) + 16)
        switch arrival {
        case let .trace(offsets):
            let sorted = offsets.sorted()
            guard let first = sorted.first, let nativeRate = arrival.traceRate else { return [] }
            let span = Double(sorted.count) / nativeRate
            let scale = nativeRate / rate
            var pass = 0.0
            while true {
                for t in sorted {
                    let scaled = pass + (t - first) * scale
                    if scaled >= duration { return times }
                    times.append(scaled)
                }
                pass += span * scale
            }
        case .constant:
            var t = 0.0, i = 0
            while t < duration { times.append(t); i += 1; t = Double(i) / rate }
            return times
        case .poisson, .gamma:
            var t = 0.0
            while true {
                switch arrival {
                case let .gamma(cv):
                    let shape = 1 / (cv * cv)
                    t += rng.gamma(shape: shape, scale: 1 / (rate * shape))
                default:
                    t += rng.exponential(rate: rate)
                }
                if t >= duration { return times }
                times.append(t)
            }
        }
    }

    func lengthPairs(count: Int) throws -> [(Int, Int)] {
        let rng = RandomSource(seed: seed)
        var pairs: [(Int, Int)] = []
        pairs.reserveCapacity(count)
        switch lengths {
        case let .distributions(promptDist, outputDist):
            let promptSampler = promptDist.sampler(), outputSampler = outputDist.sampler()
            for _ in 0..<count {
                var p = scaled(promptSampler(rng), promptScale), o = scaled(outputSampler(rng), outputScale)
                if let cap = maxTotalTokens, p + o > cap { p = max(1, cap - o); o = min(o, cap - p) }
                pairs.append((p, max(1, o)))
            }
        case let .trace(rows):
            let usable = rows.map { (scaled($0.promptTokens, promptScale), scaled($0.outputTokens, outputScale)) }
                .filter { maxTotalTokens == nil || $0.0 + $0.1 <= maxTotalTokens! }
            guard !usable.isEmpty else {
                throw WorkloadError.invalid("no trace row fits the maximum of \(maxTotalTokens ?? 0) total tokens")
            }
            var order = Array(usable.indices)
            while pairs.count < count {
                // A fresh seeded shuffle for each pass over the trace.
                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.integer(in: 0...i)) }
                for i in order where pairs.count < count { pairs.append(usable[i]) }
            }
        }
        return pairs
    }

    private func scaled(_ n: Int, _ factor: Double) -> Int { Self.scaled(n, by: factor) }

    /// A length times a scale factor, as plans scale them: rounded, and at least 1.
    public static func scaled(_ n: Int, by factor: Double) -> Int { max(1, Int((Double(n) * factor).rounded())) }
}

extension LengthDistribution {
    /// The shortest length it can give.
    public var minimum: Int {
        switch self {
        case let .fixed(n): return n
        case let .uniform(lo, _), let .zipf(lo, _, _): return lo
        }
    }

    func validate(_ what: String) throws {
        if let problem = problem(atLeast: 1) { throw WorkloadError.invalid("\(what) \(problem)") }
    }

    /// What is wrong with the distribution for lengths of at least `minimum`, or nil.
    public func problem(atLeast minimum: Int) -> String? {
        switch self {
        case let .fixed(n):
            return n >= minimum ? nil : "length must be at least \(minimum), got \(n)"
        case let .uniform(lo, hi), let .zipf(lo, hi, _):
            guard lo >= minimum, hi >= lo else { return "length range \(lo)...\(hi) must satisfy \(minimum) <= min <= max" }
            if case let .zipf(_, _, theta) = self, !(theta > 0 && theta.isFinite) { return "Zipf theta must be positive, got \(theta)" }
            return nil
        }
    }

    /// A sampler drawing from this distribution; Zipf precomputes its normalised CDF once.
    public func sampler() -> (RandomSource) -> Int {
        switch self {
        case let .fixed(n): return { _ in n }
        case let .uniform(lo, hi): return { $0.integer(in: lo...hi) }
        case let .zipf(lo, hi, theta):
            let cdf = Self.zipfCDF(count: hi - lo + 1, theta: theta)
            return { rng in
                let u = rng.uniform()
                var low = 0, high = cdf.count - 1
                while low < high {
                    let mid = (low + high) / 2
                    if cdf[mid] > u { high = mid } else { low = mid + 1 }
                }
                return lo + low
            }
        }
    }

    /// Cumulative probabilities of ranks 1...count with weights 1 / rank^theta, normalised to 1.
    static func zipfCDF(count: Int, theta: Double) -> [Double] {
        var cdf = [Double](repeating: 0, count: count)
        var sum = 0.0
        for i in 0..<count { sum += 1 / pow(Double(i + 1), theta); cdf[i] = sum }
        return cdf.map { $0 / sum }
    }
}

/// `N`, or `{"distribution": "fixed", "tokens": N}`, `{"distribution": "uniform", "min": A, "max": B}`,
/// `{"distribution": "zipf", "min": A, "max": B, "theta": T}`: the sweep file's form. Ranges are
/// checked by whoever knows the smallest length allowed (`problem(atLeast:)`).
extension LengthDistribution: Codable {
    enum CodingKeys: String, CodingKey {
        case distribution, tokens, min, max, theta
    }

    public init(from decoder: any Decoder) throws {
        if let n = try? decoder.singleValueContainer().decode(Int.self) {
            self = .fixed(n)
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .distribution) {
        case "fixed": self = .fixed(try c.decode(Int.self, forKey: .tokens))
        case "uniform": self = .uniform(min: try c.decode(Int.self, forKey: .min), max: try c.decode(Int.self, forKey: .max))
        case "zipf":
            self = .zipf(min: try c.decode(Int.self, forKey: .min), max: try c.decode(Int.self, forKey: .max),
                         theta: try c.decode(Double.self, forKey: .theta))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .distribution, in: c, debugDescription: "unknown distribution '\(other)'; expected fixed, uniform or zipf")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .fixed(n):
            try c.encode("fixed", forKey: .distribution)
            try c.encode(n, forKey: .tokens)
        case let .uniform(lo, hi):
            try c.encode("uniform", forKey: .distribution)
            try c.encode(lo, forKey: .min)
            try c.encode(hi, forKey: .max)
        case let .zipf(lo, hi, theta):
            try c.encode("zipf", forKey: .distribution)
            try c.encode(lo, forKey: .min)
            try c.encode(hi, forKey: .max)
            try c.encode(theta, forKey: .theta)
        }
    }
}
