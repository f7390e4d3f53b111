import Foundation
import MetronStats

/// A distribution of durations, seconds.
public enum DurationDistribution: Sendable, Equatable {
    case fixed(Double)
    /// Uniform in min...max.
    case uniform(min: Double, max: Double)
    case exponential(mean: Double)

    public var mean: Double {
        switch self {
        case let .fixed(s): return s
        case let .uniform(lo, hi): return (lo + hi) / 2
        case let .exponential(mean): return mean
        }
    }

    /// What is wrong with the values, or nil.
    public var problem: String? {
        switch self {
        case let .fixed(s):
            return s >= 0 && s.isFinite ? nil : "a think time must be zero or more seconds, got \(compactNumber(s))"
        case let .uniform(lo, hi):
            guard lo >= 0, hi.isFinite else { return "a think time must be zero or more seconds, got min \(compactNumber(lo))" }
            return hi >= lo ? nil : "max (\(compactNumber(hi))) must be at least min (\(compactNumber(lo)))"
        case let .exponential(mean):
            return mean >= 0 && mean.isFinite ? nil : "a mean think time must be zero or more seconds, got \(compactNumber(mean))"
        }
    }

    func draw(_ rng: RandomSource) -> Double {
        switch self {
        case let .fixed(s): return s
        case let .uniform(lo, hi): return lo + (hi - lo) * rng.uniform()
        case let .exponential(mean): return mean > 0 ? rng.exponential(rate: 1 / mean) : 0
        }
    }

    /// `S`, `fixed:S`, `uniform:MIN:MAX` or `exponential:MEAN`, as the `--think-time` flag takes it.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func seconds(_ s: String) throws -> Double {
            guard let v = Double(s), v.isFinite else { throw WorkloadError.invalid("think time '\(text)': '\(s)' is not a number of seconds") }
            return v
        }
        switch (parts.first ?? "", parts.count) {
        case (_, 1): self = .fixed(try seconds(parts[0]))
        case ("fixed", 2): self = .fixed(try seconds(parts[1]))
        case ("uniform", 3): self = .uniform(min: try seconds(parts[1]), max: try seconds(parts[2]))
        case ("exponential", 2): self = .exponential(mean: try seconds(parts[1]))
        default:
            throw WorkloadError.invalid("think time '\(text)': expected S, fixed:S, uniform:MIN:MAX or exponential:MEAN (seconds)")
        }
        if let problem { throw WorkloadError.invalid("think time '\(text)': \(problem)") }
    }
}

/// Multi-turn conversations: sessions arrive open-loop at the workload's rate, and each turn after the
/// first is sent when the answer to the one before it has ended, plus a think time. Every turn's
/// prompt carries the conversation so far, so prompts grow turn by turn.
public struct SessionSpec: Sendable, Equatable {
    /// Turns per session, at least 1.
    public var turns: LengthDistribution
    /// The pause between an answer's end and the next turn.
    public var thinkTimeS: DurationDistribution

    public init(turns: LengthDistribution, thinkTimeS: DurationDistribution = .fixed(0)) {
        self.turns = turns
        self.thinkTimeS = thinkTimeS
    }

    /// Every problem of the values, each naming its field.
    public var problems: [String] {
        var out: [String] = []
        if let p = turns.problem(atLeast: 1) { out.append("turns: \(p)") }
        if let p = thinkTimeS.problem { out.append("think_time_s: \(p)") }
        return out
    }

    /// Turns per session on average, before any session is cut short by `max_total_tokens`.
    public var meanTurns: Double {
        switch turns {
        case let .fixed(n): return Double(n)
        case let .uniform(lo, hi): return Double(lo + hi) / 2
        case let .zipf(lo, hi, theta):
            let cdf = LengthDistribution.zipfCDF(count: hi - lo + 1, theta: theta)
            var mean = 0.0, previous = 0.0
            for (i, c) in cdf.enumerated() { mean += Double(lo + i) * (c - previous); previous = c }
            return mean
        }
    }
}

/// Where a planned request sits in its session.
public struct PlannedTurn: Sendable, Equatable, Codable {
    public var session: Int
    /// 0 for the session's first turn.
    public var index: Int
    /// Seconds between the end of the previous turn's answer and this turn's send (0 for the first turn).
    public var thinkTimeS: Double
    /// Prompt tokens of the conversation before this turn's own message: earlier messages and
    /// answers, each answer as long as it was asked to be.
    public var historyTokens: Int

    public init(session: Int, index: Int, thinkTimeS: Double = 0, historyTokens: Int = 0) {
        self.session = session
        self.index = index
        self.thinkTimeS = thinkTimeS
        self.historyTokens = historyTokens
    }

    enum CodingKeys: String, CodingKey {
        case session, index = "turn", thinkTimeS = "think_time_s", historyTokens = "history_tokens"
    }
}

extension WorkloadSpec {
    /// Sessions starting in [0, duration) at `rate` sessions per second. Turn k of a session asks for
    /// its own message and answer lengths (drawn as single requests draw theirs) on top of the
    /// conversation before it; a session whose next turn would exceed `maxTotalTokens` ends there.
    /// Request ids run session by session, turn by turn. A shared prefix begins a session's first message.
    func sessionPlan(_ sessions: SessionSpec, rate: Double, duration: Double) throws -> [PlannedRequest] {
        let starts = arrivalTimes(rate: rate, duration: duration)
        let turnRNG = RandomSource(seed: seed &+ 0x7E55_1045), thinkRNG = RandomSource(seed: seed &+ 0x7171_4B)
        let turnSampler = sessions.turns.sampler()
        let turnCounts = starts.map { _ in turnSampler(turnRNG) }
        let lengths = try lengthPairs(count: turnCounts.reduce(0, +))
        let prefixes = sharedPrefix?.assignments(count: starts.count, seed: seed) ?? []
        var plan: [PlannedRequest] = []
        plan.reserveCapacity(lengths.count)
        var drawn = 0
        for (session, start) in starts.enumerated() {
            var history = 0
            for turn in 0..<turnCounts[session] {
                let (own, output) = lengths[drawn + turn]
                let think = turn == 0 ? 0 : sessions.thinkTimeS.draw(thinkRNG)
                if turn > 0, let cap = maxTotalTokens, history + own + output > cap { break }
                var request = PlannedRequest(id: plan.count, arrival: start, promptTokens: history + own, outputTokens: output)
                request.turn = PlannedTurn(session: session, index: turn, thinkTimeS: think, historyTokens: history)
                if turn == 0, let shared = sharedPrefix, let index = prefixes[session] {
                    guard shared.tokens < own else {
                        throw WorkloadError.invalid(
                            "a shared prefix of \(shared.tokens) tokens does not fit in the first message of session \(session) "
                                + "(\(own) tokens); a prefix must be shorter than every prompt that begins with it")
                    }
                    request.sharedPrefix = PlannedPrefix(index: index, tokens: shared.tokens)
                }
                plan.append(request)
                history += own + output
            }
            drawn += turnCounts[session]
        }
        return plan
    }
}

extension Array where Element == PlannedRequest {
    /// For each turn that has a next one, the position of that next turn: it is sent when this turn's
    /// answer has ended. Throws for a turn whose turn before it is missing.
    public func nextTurnPositions() throws -> [Int: Int] {
        var position: [SessionTurnKey: Int] = [:]
        for (i, r) in enumerated() {
            if let turn = r.turn { position[SessionTurnKey(session: turn.session, index: turn.index)] = i }
        }
        var next: [Int: Int] = [:]
        for (i, r) in enumerated() where r.followsAnswer {
            let turn = r.turn!
            guard let before = position[SessionTurnKey(session: turn.session, index: turn.index - 1)] else {
                throw WorkloadError.invalid(
                    "turn \(turn.index) of session \(turn.session) (request \(r.id)) has no turn \(turn.index - 1) before it in the plan")
            }
            next[before] = i
        }
        return next
    }
}

private struct SessionTurnKey: Hashable { var session: Int, index: Int }
