import MetronModel
import MetronStats

/// How many of each request's output tokens the simulated model spends reasoning before its answer,
/// drawn from the configuration's `reasoningTokens` with its own seeded stream, one draw per request
/// in the order requests are submitted. Reasoning tokens are output tokens: they take decode
/// iterations and KV blocks and count toward `max_tokens`, so a draw of `max_tokens` or more leaves
/// the request no visible answer, as a real server cut off at its limit.
public final class ReasoningDraws {
    private let sample: ((RandomSource) -> Int)?
    private let random: RandomSource

    public init(_ config: SimulatorConfig) {
        sample = config.reasoningTokens?.sampler()
        // Apart from the stream of the HTTP front's faults, which is seeded with the seed itself.
        random = RandomSource(seed: config.seed &+ 0x9E37_79B9_7F4A_7C15)
    }

    /// The reasoning tokens of the next request of `outputTokens` output tokens.
    public func next(outputTokens: Int) -> Int {
        guard let sample else { return 0 }
        return min(outputTokens, sample(random))
    }
}
