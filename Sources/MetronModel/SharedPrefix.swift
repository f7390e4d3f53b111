import MetronStats

/// A share of requests that begin with one of a few fixed prefixes (a system prompt, a few-shot
/// preamble), so a server that caches prompt prefixes can reuse their KV cache.
public struct SharedPrefix: Sendable, Equatable {
    /// How many different prefixes.
    public var count: Int
    /// Tokens of each prefix.
    public var tokens: Int
    /// The share of requests that begin with one, in [0, 1].
    public var fraction: Double

    public init(count: Int, tokens: Int, fraction: Double) {
        self.count = count
        self.tokens = tokens
        self.fraction = fraction
    }

    /// Every problem of the values, each naming its field.
    public var problems: [String] {
        var out: [String] = []
        if count < 1 { out.append("count must be at least 1, got \(count)") }
        if tokens < 1 { out.append("tokens must be at least 1, got \(tokens)") }
        if !(0...1).contains(fraction) { out.append("fraction must be between 0 and 1, got \(compactNumber(fraction))") }
        return out
    }

    /// `COUNT:TOKENS:FRACTION`, as the `--shared-prefix` flag takes it.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let count = Int(parts[0]), let tokens = Int(parts[1]), let fraction = Double(parts[2]) else {
            throw WorkloadError.invalid("a shared prefix is COUNT:TOKENS:FRACTION (for example 4:1024:0.9), got '\(text)'")
        }
        self.init(count: count, tokens: tokens, fraction: fraction)
        if let problem = problems.first { throw WorkloadError.invalid("shared prefix '\(text)': \(problem)") }
    }

    /// Which prefix each of `count` requests begins with (nil: none), from a stream of its own, so
    /// arrivals and lengths are the same with and without prefixes.
    func assignments(count requests: Int, seed: UInt64) -> [Int?] {
        let rng = RandomSource(seed: seed &+ 0x5EED_0F_F1CE5)
        return (0..<requests).map { _ in
            let shared = rng.uniform() < fraction
            let which = rng.integer(in: 0...(count - 1))
            return shared ? which : nil
        }
    }
}
