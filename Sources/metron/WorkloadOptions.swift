import ArgumentParser
import Foundation
import MetronModel

/// Arrival process and request lengths, shared by the commands that plan load.
struct WorkloadOptions: ParsableArguments {
    enum Arrival: String, ExpressibleByArgument, CaseIterable {
        case poisson, gamma, constant, trace
    }

    @Option(help: "Arrival process: poisson, gamma (with --cv), constant, or trace (arrived_at of --trace).")
    var arrival: Arrival = .poisson

    @Option(help: "Coefficient of variation of gamma gaps (1 is Poisson, above 1 is burstier).")
    var cv: Double?

    @Option(help: "Prompt length in tokens: N, fixed:N, uniform:MIN:MAX or zipf:MIN:MAX:THETA.")
    var promptLength: String = "fixed:512"

    @Option(help: "Output length in tokens (max_tokens), same forms as --prompt-length.")
    var outputLength: String = "fixed:128"

    @Option(help: "Take (prompt, output) lengths from a CSV trace (num_prefill_tokens,num_decode_tokens,...).")
    var trace: String?

    @Option(help: "Multiply every prompt length by this factor.")
    var promptScale: Double = 1

    @Option(help: "Multiply every output length by this factor.")
    var outputScale: Double = 1

    @Option(help: "Skip trace rows (or clip sampled lengths) whose prompt plus output exceed this many tokens.")
    var maxTotalTokens: Int?

    @Option(help: "COUNT:TOKENS:FRACTION: that fraction of requests begins with one of COUNT fixed prefixes of TOKENS tokens.")
    var sharedPrefix: String?

    @Option(help: "Turns per session (N, fixed:N, uniform:MIN:MAX or zipf:MIN:MAX:THETA): the rate then counts sessions per second, and each turn carries the conversation so far (chat API).")
    var turns: String?

    @Option(help: "Seconds between an answer's end and the session's next turn: S, fixed:S, uniform:MIN:MAX or exponential:MEAN.")
    var thinkTime: String?

    @Option(help: "Seed of arrivals and lengths: the same seed replays the same workload.")
    var seed: UInt64 = 1

    func validate() throws {
        _ = try Self.length(promptLength, flag: "--prompt-length")
        _ = try Self.length(outputLength, flag: "--output-length")
        if let cv, !(cv > 0 && cv.isFinite) { throw ValidationError("--cv must be a positive number, got \(cv)") }
        if cv != nil, arrival != .gamma { throw ValidationError("--cv applies only to --arrival gamma") }
        if arrival == .trace, trace == nil { throw ValidationError("--arrival trace needs --trace FILE with an arrived_at column") }
        guard promptScale > 0, promptScale.isFinite else { throw ValidationError("--prompt-scale must be positive, got \(promptScale)") }
        guard outputScale > 0, outputScale.isFinite else { throw ValidationError("--output-scale must be positive, got \(outputScale)") }
        if let m = maxTotalTokens, m < 2 { throw ValidationError("--max-total-tokens must be at least 2, got \(m)") }
        if let prefix = try sharedPrefixSpec(), trace == nil {
            let shortest = WorkloadSpec.scaled(try Self.length(promptLength, flag: "--prompt-length").minimum, by: promptScale)
            if shortest <= prefix.tokens {
                throw ValidationError("--shared-prefix: a prefix of \(prefix.tokens) tokens does not fit in the shortest prompt "
                    + "(\(shortest) tokens, --prompt-length \(promptLength)); a prefix must be shorter than every prompt that begins with it")
            }
        }
        _ = try sessionSpec()
        if let trace, !FileManager.default.isReadableFile(atPath: trace) {
            throw ValidationError("--trace \(trace): no such file or not readable")
        }
    }

    /// Parses `N`, `fixed:N`, `uniform:MIN:MAX` or `zipf:MIN:MAX:THETA`, lengths of at least `minimum`.
    static func length(_ text: String, flag: String, atLeast minimum: Int = 1) throws -> LengthDistribution {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func int(_ s: String) throws -> Int {
            guard let v = Int(s), v >= minimum else { throw ValidationError("\(flag) \(text): '\(s)' is not a whole number >= \(minimum)") }
            return v
        }
        let distribution: LengthDistribution
        switch (parts.first ?? "", parts.count) {
        case (_, 1): distribution = .fixed(try int(parts[0]))
        case ("fixed", 2): distribution = .fixed(try int(parts[1]))
        case ("uniform", 3): distribution = .uniform(min: try int(parts[1]), max: try int(parts[2]))
        case ("zipf", 4):
            guard let theta = Double(parts[3]), theta > 0, theta.isFinite else {
                throw ValidationError("\(flag) \(text): Zipf theta '\(parts[3])' must be a positive number")
            }
            distribution = .zipf(min: try int(parts[1]), max: try int(parts[2]), theta: theta)
        default:
            throw ValidationError("\(flag) \(text): expected N, fixed:N, uniform:MIN:MAX or zipf:MIN:MAX:THETA")
        }
        if case let .uniform(lo, hi) = distribution, lo > hi { throw ValidationError("\(flag) \(text): MIN is above MAX") }
        if case let .zipf(lo, hi, _) = distribution, lo > hi { throw ValidationError("\(flag) \(text): MIN is above MAX") }
        return distribution
    }

    /// The sessions `--turns` and `--think-time` describe, or nil.
    func sessionSpec() throws -> SessionSpec? {
        guard let turns else {
            if thinkTime != nil { throw ValidationError("--think-time applies only to sessions: add --turns") }
            return nil
        }
        let think: DurationDistribution
        do { think = try thinkTime.map(DurationDistribution.init(parsing:)) ?? .fixed(0) } catch {
            throw ValidationError("--think-time: \(error)")
        }
        return SessionSpec(turns: try Self.length(turns, flag: "--turns"), thinkTimeS: think)
    }

    private func sharedPrefixSpec() throws -> SharedPrefix? {
        do { return try sharedPrefix.map(SharedPrefix.init(parsing:)) } catch { throw ValidationError("--shared-prefix: \(error)") }
    }

    /// The workload these options describe; reads the trace file when one is given.
    func spec() throws -> WorkloadSpec {
        var rows: [TraceRow]?
        if let trace {
            let text: String
            do { text = try String(contentsOfFile: trace, encoding: .utf8) } catch {
                throw ValidationError("--trace \(trace): cannot read: \(error.localizedDescription)")
            }
            do { rows = try TraceFile.parse(text, source: trace) } catch { throw ValidationError("\(error)") }
        }
        let arrivalProcess: ArrivalProcess
        switch arrival {
        case .poisson: arrivalProcess = .poisson
        case .gamma: arrivalProcess = .gamma(cv: cv ?? 1)
        case .constant: arrivalProcess = .constant
        case .trace:
            let offsets = rows?.compactMap(\.arrivedAt) ?? []
            guard let rows, offsets.count == rows.count else {
                throw ValidationError("--arrival trace: \(trace ?? "the trace") has no arrived_at value on every row")
            }
            arrivalProcess = .trace(offsets: offsets)
        }
        let lengths: LengthSource = rows.map { .trace($0) } ?? .distributions(
            prompt: try Self.length(promptLength, flag: "--prompt-length"),
            output: try Self.length(outputLength, flag: "--output-length"))
        return WorkloadSpec(arrival: arrivalProcess, lengths: lengths, promptScale: promptScale, outputScale: outputScale,
                            maxTotalTokens: maxTotalTokens, sharedPrefix: try sharedPrefixSpec(), sessions: try sessionSpec(), seed: seed)
    }

    /// A one-line description for run.json.
    var summary: String {
        var parts = ["arrival \(arrival.rawValue)"]
        if let cv { parts.append("cv \(cv)") }
        if let trace { parts.append("lengths from \(trace)") } else {
            parts.append("prompt \(promptLength)")
            parts.append("output \(outputLength)")
        }
        if promptScale != 1 { parts.append("prompt scale \(promptScale)") }
        if outputScale != 1 { parts.append("output scale \(outputScale)") }
        if let maxTotalTokens { parts.append("max total \(maxTotalTokens)") }
        if let sharedPrefix { parts.append("shared prefix \(sharedPrefix)") }
        if let turns { parts.append("sessions of \(turns) turns, think time \(thinkTime ?? "0") s") }
        return parts.joined(separator: ", ")
    }
}
