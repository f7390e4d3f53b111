import Foundation
import MetronSearch
import MetronModel
import MetronLoad
import MetronSimModel
import Yams

extension SweepParser {
    func workload(_ node: Node, _ path: String) -> (name: String, value: WorkloadEntry)? {
        guard let m = reader.mapping(node, path, known: ["name", "arrival", "prompt_tokens", "output_tokens", "trace",
                                                         "prompt_scale", "output_scale", "max_total_tokens", "shared_prefix", "sessions", "seed"],
                                     required: ["name"]) else { return nil }
        let name = m["name"].flatMap { reader.name($0, "\(path).name") }
        let where_ = name.map { "\(path) ('\($0)')" } ?? path
        var ok = true
        func check<T>(_ value: T?, _ key: String) -> T? {
            if m[key] != nil && value == nil { ok = false }
            return value
        }
        var trace: [TraceRow]?
        var tracePath: String?
        if let t = m["trace"], let file = reader.string(t, "\(where_).trace") {
            tracePath = file
            trace = readTrace(t, file, where_)
            if trace == nil { ok = false }
        } else if m["trace"] != nil { ok = false }

        var lengths: LengthSource?
        if let rows = trace {
            for key in ["prompt_tokens", "output_tokens"] where m[key] != nil {
                reader.problem(at: m[key], "\(where_).\(key): lengths come from the trace; remove '\(key)' or 'trace'")
                ok = false
            }
            lengths = .trace(rows)
        } else if m["trace"] == nil {
            let prompt = m["prompt_tokens"].map { length($0, "\(where_).prompt_tokens") } ?? .fixed(512)
            let output = m["output_tokens"].map { length($0, "\(where_).output_tokens") } ?? .fixed(128)
            if let prompt, let output { lengths = .distributions(prompt: prompt, output: output) } else { ok = false }
        }

        let arrival = m["arrival"].map { arrivalProcess($0, "\(where_).arrival", trace: trace) } ?? .poisson
        if arrival == nil { ok = false }
        let promptScale = check(m["prompt_scale"].flatMap { reader.number($0, "\(where_).prompt_scale", .above(0)) }, "prompt_scale") ?? 1
        let outputScale = check(m["output_scale"].flatMap { reader.number($0, "\(where_).output_scale", .above(0)) }, "output_scale") ?? 1
        let maxTotal = check(m["max_total_tokens"].flatMap { reader.integer($0, "\(where_).max_total_tokens", atLeast: 2) }, "max_total_tokens")
        let seed = check(m["seed"].flatMap { reader.integer($0, "\(where_).seed", atLeast: 0) }, "seed") ?? 1
        let prefix = check(m["shared_prefix"].flatMap {
            sharedPrefix($0, "\(where_).shared_prefix", lengths: lengths, promptScale: promptScale)
        }, "shared_prefix")
        let sessions = check(m["sessions"].flatMap { sessionSpec($0, "\(where_).sessions") }, "sessions")
        if let rows = trace, let cap = maxTotal {
            let fitting = rows.filter { r in
                Int((Double(r.promptTokens) * promptScale).rounded()) + Int((Double(r.outputTokens) * outputScale).rounded()) <= cap
            }
            if fitting.isEmpty {
                reader.problem(at: m["max_total_tokens"], "\(where_).max_total_tokens: no row of the trace fits in \(cap) tokens (prompt + output)")
                ok = false
            }
        }
        guard ok, let name, let lengths, let arrival else { return nil }
        let spec = WorkloadSpec(arrival: arrival, lengths: lengths, promptScale: promptScale, outputScale: outputScale,
                                maxTotalTokens: maxTotal, sharedPrefix: prefix, sessions: sessions, seed: UInt64(seed))
        return (name, WorkloadEntry(name: name, spec: spec, traceFile: tracePath))
    }

    /// `{count, tokens, fraction}`. A prefix must be shorter than the shortest prompt that can begin
    /// with it; with a trace, each request is checked when its plan is made.
    func sharedPrefix(_ node: Node, _ path: String, lengths: LengthSource?, promptScale: Double) -> SharedPrefix? {
        guard let m = reader.mapping(node, path, known: ["count", "tokens", "fraction"], required: ["count", "tokens", "fraction"])
        else { return nil }
        let count = m["count"].flatMap { reader.integer($0, "\(path).count", atLeast: 1) }
        let tokens = m["tokens"].flatMap { reader.integer($0, "\(path).tokens", atLeast: 1) }
        let fraction = m["fraction"].flatMap { reader.number($0, "\(path).fraction", .atLeast(0), .atMost(1)) }
        guard let count, let tokens, let fraction else { return nil }
        if case let .distributions(prompt, _) = lengths, case let shortest = WorkloadSpec.scaled(prompt.minimum, by: promptScale),
           shortest <= tokens {
            reader.problem(at: m["tokens"], "\(path).tokens: a prefix of \(tokens) tokens does not fit in the shortest prompt "
                + "(\(shortest) tokens); a prefix must be shorter than every prompt that begins with it")
            return nil
        }
        return SharedPrefix(count: count, tokens: tokens, fraction: fraction)
    }

    /// `{turns: <count distribution>, think_time_s: <duration distribution>}`.
    func sessionSpec(_ node: Node, _ path: String) -> SessionSpec? {
        guard let m = reader.mapping(node, path, known: ["turns", "think_time_s"], required: ["turns"]) else { return nil }
        let turns = m["turns"].flatMap { length($0, "\(path).turns", valueKey: "turns") }
        let think = m["think_time_s"].map { duration($0, "\(path).think_time_s") } ?? .fixed(0)
        guard let turns, let think else { return nil }
        return SessionSpec(turns: turns, thinkTimeS: think)
    }

    /// `S`, or `{distribution: fixed, seconds: S}`, `{distribution: uniform, min: A, max: B}`,
    /// `{distribution: exponential, mean: M}`: seconds, none negative.
    func duration(_ node: Node, _ path: String) -> DurationDistribution? {
        if case .scalar = node { return reader.number(node, path, .atLeast(0)).map(DurationDistribution.fixed) }
        guard let m = reader.mapping(node, path, known: ["distribution", "seconds", "min", "max", "mean"], required: ["distribution"]),
              let kind = m["distribution"].flatMap({ reader.oneOf($0, "\(path).distribution", ["fixed", "uniform", "exponential"]) })
        else { return nil }
        let allowed: [String] = ["fixed": ["seconds"], "uniform": ["min", "max"], "exponential": ["mean"]][kind]!
        let named = (kind == "exponential" ? "an " : "a ") + kind
        var ok = true
        for key in m.keys where key != "distribution" && !allowed.contains(key) {
            reader.problem(at: m[key], "\(path).\(key): \(named) distribution takes \(allowed.joined(separator: ", ")), not '\(key)'")
            ok = false
        }
        var values: [String: Double] = [:]
        for key in allowed {
            guard let v = m[key] else { reader.problem(at: node, "\(path): \(named) distribution needs '\(key)'"); ok = false; continue }
            guard let x = reader.number(v, "\(path).\(key)", .atLeast(0)) else { ok = false; continue }
            values[key] = x
        }
        guard ok else { return nil }
        switch kind {
        case "fixed": return .fixed(values["seconds"]!)
        case "exponential": return .exponential(mean: values["mean"]!)
        default:
            guard values["max"]! >= values["min"]! else {
                reader.problem(at: m["max"], "\(path).max: expected at least min (\(compactNumber(values["min"]!))), got \(compactNumber(values["max"]!))")
                return nil
            }
            return .uniform(min: values["min"]!, max: values["max"]!)
        }
    }

    func readTrace(_ node: Node, _ file: String, _ path: String) -> [TraceRow]? {
        let url = resolve(file)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            reader.problem(at: node, "\(path).trace: cannot read the trace file '\(file)' (looked for \(url.path))")
            return nil
        }
        do {
            return try TraceFile.parse(text, source: file)
        } catch let error as InputErrors {
            let shown = error.messages.prefix(5).joined(separator: "; ")
            reader.problem(at: node, "\(path).trace: the trace file has problems: \(shown)")
        } catch {
            reader.problem(at: node, "\(path).trace: the trace file has problems: \(error)")
        }
        return nil
    }

    /// A length distribution; `valueKey` names the fixed value (`tokens` for lengths, `turns` for turns).
    func length(_ node: Node, _ path: String, valueKey: String = "tokens") -> LengthDistribution? {
        if case .scalar = node { return reader.integer(node, path, atLeast: 1).map(LengthDistribution.fixed) }
        guard let m = reader.mapping(node, path, known: ["distribution", valueKey, "min", "max", "theta"], required: ["distribution"]),
              let kind = m["distribution"].flatMap({ reader.oneOf($0, "\(path).distribution", ["fixed", "uniform", "zipf"]) })
        else { return nil }
        func need(_ key: String) -> Node? {
            if m[key] == nil { reader.problem(at: node, "\(path): a \(kind) distribution needs '\(key)'") }
            return m[key]
        }
        let allowed: [String] = ["fixed": ["distribution", valueKey], "uniform": ["distribution", "min", "max"],
                                 "zipf": ["distribution", "min", "max", "theta"]][kind]!
        for key in m.keys where !allowed.contains(key) {
            reader.problem(at: m[key], "\(path).\(key): a \(kind) distribution takes \(allowed.dropFirst().joined(separator: ", ")), not '\(key)'")
        }
        switch kind {
        case "fixed":
            return need(valueKey).flatMap { reader.integer($0, "\(path).\(valueKey)", atLeast: 1) }.map(LengthDistribution.fixed)
        default:
            let lo = need("min").flatMap { reader.integer($0, "\(path).min", atLeast: 1) }
            let hi = need("max").flatMap { reader.integer($0, "\(path).max", atLeast: 1) }
            guard let lo, let hi else { return nil }
            guard hi >= lo else {
                reader.problem(at: m["max"], "\(path).max: expected at least min (\(lo)), got \(hi)")
                return nil
            }
            if kind == "uniform" { return .uniform(min: lo, max: hi) }
            return need("theta").flatMap { reader.number($0, "\(path).theta", .above(0)) }.map { .zipf(min: lo, max: hi, theta: $0) }
        }
    }

    func arrivalProcess(_ node: Node, _ path: String, trace: [TraceRow]?) -> ArrivalProcess? {
        let processes = ["poisson", "constant", "gamma", "trace"]
        var kind: String?, cvNode: Node?
        if case .scalar = node {
            kind = reader.oneOf(node, path, processes)
            if kind == "gamma" { reader.problem(at: node, "\(path): gamma arrivals need a coefficient of variation: {process: gamma, cv: 2}"); return nil }
        } else if let m = reader.mapping(node, path, known: ["process", "cv"], required: ["process"]) {
            kind = m["process"].flatMap { reader.oneOf($0, "\(path).process", processes) }
            cvNode = m["cv"]
            if kind == "gamma", cvNode == nil { reader.problem(at: node, "\(path): gamma arrivals need 'cv'"); return nil }
            if let kind, kind != "gamma", let c = cvNode { reader.problem(at: c, "\(path).cv: only gamma arrivals take 'cv', not \(kind)"); return nil }
        }
        switch kind {
        case "poisson": return .poisson
        case "constant": return .constant
        case "gamma": return cvNode.flatMap { reader.number($0, "\(path).cv", .above(0)) }.map { .gamma(cv: $0) }
        case "trace":
            guard let rows = trace else {
                reader.problem(at: node, "\(path): trace arrivals need a 'trace' file with an arrived_at column")
                return nil
            }
            let offsets = rows.compactMap(\.arrivedAt)
            guard offsets.count == rows.count else {
                reader.problem(at: node, "\(path): trace arrivals need an arrived_at value on every row of the trace")
                return nil
            }
            return .trace(offsets: offsets)
        default: return nil
        }
    }
}
