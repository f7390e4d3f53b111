import Foundation
import MetronSearch
import MetronModel
import MetronLoad
import MetronSimModel
import Yams

/// The schema of a sweep file, read with a `YAMLReader`.
struct SweepParser {
    let reader: YAMLReader
    let baseDirectory: URL
    let environment: [String: String]?

    init(reader: YAMLReader, baseDirectory: URL, environment: [String: String]?) {
        self.reader = reader
        self.baseDirectory = baseDirectory
        self.environment = environment
    }

    mutating func sweep(_ root: Node) -> SweepFile? {
        guard let top = reader.mapping(root, "sweep", known: ["name", "systems", "workloads", "slos", "search", "probe", "prefill"],
                                       required: ["name", "systems", "workloads", "slos"]) else { return nil }
        let name = top["name"].flatMap { reader.name($0, "name") }
        let systems = top["systems"].flatMap { list($0, "systems", system) }
        let workloads = top["workloads"].flatMap { list($0, "workloads", workload) }
        let slos = top["slos"].flatMap { list($0, "slos", slo) }
        let search = top["search"].map(searchSettings) ?? SearchSettings()
        let (probe, validity) = top["probe"].map(probeSettings) ?? (ProbeWindow(), ValidityRules())
        let prefill = top["prefill"].map(prefillLadder) ?? .standard

        // Cross-references: an SLO may borrow one system's prefill model.
        if let slos, let systems, let sloNodes = top["slos"].flatMap({ node -> [Node]? in
            if case let .sequence(s) = node { return Array(s) } else { return nil }
        }) {
            for (spec, node) in zip(slos, sloNodes) {
                if case let .referenceSystem(ref, _) = spec.ttftDeadline, !systems.contains(where: { $0.name == ref }) {
                    let target = node.mapping?["reference_system"] ?? node
                    let hint = YAMLReader.suggestion(for: ref, among: systems.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
                    reader.problem(at: target, "slos: '\(spec.name)' takes its prefill model from system '\(ref)', which the sweep does not list\(hint)")
                }
            }
        }
        guard let name, let systems, let workloads, let slos else { return nil }
        // One plan per probe for every SLO: sized for the strictest.
        let level = slos.map(\.kind.attainmentLevel).max() ?? 0.99
        return SweepFile(name: name, systems: systems, workloads: workloads, slos: slos, search: search,
                         probe: probe.resolved(forLevel: level),
                         validity: validity, prefill: prefill)
    }

    /// A non-empty list of named entries with unique names.
    func list<T>(_ node: Node, _ path: String, _ entry: (Node, String) -> (name: String, value: T)?) -> [T]? {
        guard let nodes = reader.sequence(node, path) else { return nil }
        var values: [T] = [], seen: [String: Int] = [:]
        var complete = true
        for (i, n) in nodes.enumerated() {
            guard let (name, value) = entry(n, "\(path)[\(i)]") else { complete = false; continue }
            if let first = seen[name] {
                reader.problem(at: n, "\(path)[\(i)]: the name '\(name)' is already used by \(path)[\(first)]; names must be unique")
                complete = false
            }
            seen[name] = i
            values.append(value)
        }
        return complete ? values : nil
    }

    // MARK: systems

    func system(_ node: Node, _ path: String) -> (name: String, value: SystemSpec)? {
        guard let m = reader.mapping(node, path, known: ["name", "url", "model", "api_key_env", "api_key_file", "api", "ignore_eos",
                                                         "min_tokens", "extra_body", "simulator", "hardware", "gpus", "usd_per_hour"],
                                     required: ["name"]) else { return nil }
        let name = m["name"].flatMap { reader.name($0, "\(path).name") }
        let where_ = name.map { "\(path) ('\($0)')" } ?? path
        let hardware = m["hardware"].flatMap { reader.string($0, "\(where_).hardware") }
        let gpus = m["gpus"].map { reader.integer($0, "\(where_).gpus", atLeast: 1) } ?? 1
        let price = m["usd_per_hour"].flatMap { reader.number($0, "\(where_).usd_per_hour", .atLeast(0), unit: "dollars per hour") }
        var target: SystemTarget?
        switch (m["url"], m["simulator"]) {
        case (nil, nil):
            reader.problem(at: node, "\(where_): expected either 'url' (a server) or 'simulator' (the built-in simulator)")
        case (.some, .some):
            reader.problem(at: m["simulator"], "\(where_): give either 'url' or 'simulator', not both")
        case let (url?, nil):
            target = endpoint(url: url, m, where_).map(SystemTarget.endpoint)
        case let (nil, sim?):
            for key in ["model", "api_key_env", "api_key_file", "api", "ignore_eos", "min_tokens", "extra_body"] where m[key] != nil {
                reader.problem(at: m[key], "\(where_).\(key): only a 'url' system takes '\(key)'; for the simulator put the model under 'simulator'")
            }
            target = simulator(sim, "\(where_).simulator").map(SystemTarget.simulator)
        }
        guard let name, let target, let gpus, m["usd_per_hour"] == nil || price != nil, m["hardware"] == nil || hardware != nil
        else { return nil }
        return (name, SystemSpec(name: name, target: target, hardware: hardware, gpus: gpus, usdPerHour: price))
    }

    /// `url: ${NAME}` takes the URL from the environment variable NAME (checked only when the
    /// environment is given).
    func endpoint(url node: Node, _ m: [String: Node], _ path: String) -> Endpoint? {
        guard var text = reader.string(node, "\(path).url") else { return nil }
        if let match = text.wholeMatch(of: /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/) {
            let name = String(match.1)
            if let environment {
                guard let value = environment[name], !value.isEmpty else {
                    reader.problem(at: node, "\(path).url: the environment variable \(name) is not set")
                    return nil
                }
                text = value
            } else {
                text = "http://\(name.lowercased()).invalid"
            }
        }
        var url: URL?
        if let u = URL(string: text), let scheme = u.scheme?.lowercased(), ["http", "https"].contains(scheme),
           let host = u.host, !host.isEmpty, !text.contains(" ") {
            url = u
        } else {
            reader.problem(at: node, "\(path).url: '\(text)' is not a URL: expected http:// or https://, a host and an optional path")
        }
        let api = m["api"].flatMap { reader.oneOf($0, "\(path).api", APIKind.allCases.map(\.rawValue)) }.flatMap(APIKind.init)
        let ignoreEOS = m["ignore_eos"].flatMap { reader.bool($0, "\(path).ignore_eos") }
        let minTokens = m["min_tokens"].flatMap { reader.bool($0, "\(path).min_tokens") }
        var extraBody: String?
        if let n = m["extra_body"] {
            if case .mapping = n, let data = try? JSONSerialization.data(withJSONObject: YAMLReader.jsonValue(n), options: [.sortedKeys]) {
                extraBody = String(decoding: data, as: UTF8.self)
            } else {
                reader.problem(at: n, "\(path).extra_body: expected a mapping of JSON fields to add to every request, got \(YAMLReader.kind(n))")
            }
        }
        let model = m["model"].flatMap { reader.string($0, "\(path).model") }
        var keyEnv: String?
        if let n = m["api_key_env"], let v = reader.string(n, "\(path).api_key_env") {
            if !APIKeySource.isVariableName(v) {
                // The value is not echoed: it may be the key itself, pasted in the wrong place.
                reader.problem(at: n, "\(path).api_key_env: expected the name of an environment variable (letters, digits, '_'), not the key itself")
            } else if let env = environment, (env[v] ?? "").isEmpty {
                reader.problem(at: n, "\(path).api_key_env: the environment variable \(v) is not set")
            } else {
                keyEnv = v
            }
        }
        var keyFile: String?
        if let n = m["api_key_file"], let v = reader.string(n, "\(path).api_key_file") {
            let resolved = resolve(v)
            if FileManager.default.isReadableFile(atPath: resolved.path) { keyFile = resolved.path } else {
                reader.problem(at: n, "\(path).api_key_file: cannot read '\(v)'")
            }
        }
        if m["api_key_env"] != nil, m["api_key_file"] != nil {
            reader.problem(at: m["api_key_file"], "\(path): give either 'api_key_env' or 'api_key_file', not both")
        }
        guard let url, m["model"] == nil || model != nil, m["api"] == nil || api != nil,
              m["ignore_eos"] == nil || ignoreEOS != nil, m["min_tokens"] == nil || minTokens != nil,
              m["extra_body"] == nil || extraBody != nil
        else { return nil }
        return Endpoint(url: url, model: model, apiKeyEnv: keyEnv, apiKeyFile: keyFile, api: api ?? .completions,
                        shape: RequestShape(ignoreEOS: ignoreEOS ?? true, minTokens: minTokens ?? false, extraBody: extraBody))
    }

    /// `hardware` and `model` are built-in profile names or whole custom profiles (mappings);
    /// scheduler knobs and `efficiency` constants sit beside them. The simulator's own decoder checks
    /// the result, so every problem it finds is reported at this block.
    func simulator(_ node: Node, _ path: String) -> SimulatorSpec? {
        let known = ["hardware", "model", "scheduler", "tp", "efficiency", "seed"] + SimulatorSpec.schedulerKnobs
        guard let m = reader.mapping(node, path, known: known, required: ["hardware", "model", "scheduler"]) else { return nil }
        for key in ["hardware", "model"] {
            if let value = m[key], case .sequence = value {
                reader.problem(at: value, "\(path).\(key): expected a built-in profile name or a mapping of profile fields, got a list")
            }
        }
        let scheduler = m["scheduler"].flatMap { reader.oneOf($0, "\(path).scheduler", SimulatorSpec.schedulers) }
        let tp = m["tp"].map { reader.integer($0, "\(path).tp", atLeast: 1) } ?? 1
        guard let scheduler, let tp, let hardware = m["hardware"], let model = m["model"] else { return nil }
        var schedulerJSON: [String: Any] = ["kind": scheduler]
        for key in SimulatorSpec.schedulerKnobs { if let v = m[key] { schedulerJSON[key] = YAMLReader.jsonValue(v) } }
        var json: [String: Any] = [
            "hardware": YAMLReader.jsonValue(hardware), "model": YAMLReader.jsonValue(model), "tensor_parallel": tp,
            "scheduler": schedulerJSON,
        ]
        if let e = m["efficiency"] { json["efficiency"] = YAMLReader.jsonValue(e) }
        if let seed = m["seed"] { json["seed"] = YAMLReader.jsonValue(seed) }
        do {
            let data = try JSONSerialization.data(withJSONObject: json)
            let config = try JSONDecoder().decode(SimulatorConfig.self, from: data)
            _ = try config.costModel()
            return SimulatorSpec(config: config)
        } catch let error as DecodingError {
            reader.problem(at: node, "\(path): \(Self.describe(error))")
        } catch {
            reader.problem(at: node, "\(path): \(error)")
        }
        return nil
    }

    /// A decoding error of the simulator configuration, in the sweep file's terms.
    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            let keys = path.map(\.stringValue).filter { $0 != "scheduler" || path.count == 1 }
            return keys.isEmpty ? "" : "\(keys.joined(separator: ".")): "
        }
        switch error {
        case let .keyNotFound(key, context): return "\(at(context.codingPath))missing '\(key.stringValue)'"
        case let .typeMismatch(type, context): return "\(at(context.codingPath))expected \(type == String.self ? "text" : "a number")"
        case let .valueNotFound(_, context): return "\(at(context.codingPath))a value is required"
        case let .dataCorrupted(context): return "\(at(context.codingPath))\(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    func resolve(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : baseDirectory.appendingPathComponent(path)
    }

    // MARK: workloads

    func workload(_ node: Node, _ path: String) -> (name: String, value: WorkloadEntry)? {
        guard let m = reader.mapping(node, path, known: ["name", "arrival", "prompt_tokens", "output_tokens", "trace",
                                                         "prompt_scale", "output_scale", "max_total_tokens", "seed"],
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
                                maxTotalTokens: maxTotal, seed: UInt64(seed))
        return (name, WorkloadEntry(name: name, spec: spec, traceFile: tracePath))
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

    func length(_ node: Node, _ path: String) -> LengthDistribution? {
        if case .scalar = node { return reader.integer(node, path, atLeast: 1).map(LengthDistribution.fixed) }
        guard let m = reader.mapping(node, path, known: ["distribution", "tokens", "min", "max", "theta"], required: ["distribution"]),
              let kind = m["distribution"].flatMap({ reader.oneOf($0, "\(path).distribution", ["fixed", "uniform", "zipf"]) })
        else { return nil }
        func need(_ key: String) -> Node? {
            if m[key] == nil { reader.problem(at: node, "\(path): a \(kind) distribution needs '\(key)'") }
            return m[key]
        }
        let allowed: [String] = ["fixed": ["distribution", "tokens"], "uniform": ["distribution", "min", "max"],
                                 "zipf": ["distribution", "min", "max", "theta"]][kind]!
        for key in m.keys where !allowed.contains(key) {
            reader.problem(at: m[key], "\(path).\(key): a \(kind) distribution takes \(allowed.dropFirst().joined(separator: ", ")), not '\(key)'")
        }
        switch kind {
        case "fixed":
            return need("tokens").flatMap { reader.integer($0, "\(path).tokens", atLeast: 1) }.map(LengthDistribution.fixed)
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

    // MARK: SLOs

    func slo(_ node: Node, _ path: String) -> (name: String, value: SLOSpec)? {
        let known = ["name", "type", "percentile", "quantile", "fluidity_target", "tbt_deadline_s", "prefill_model", "reference_system",
                     "ttft_slack_s", "ttft_deadline_s", "max_error_rate", "ttft", "tbt", "tpot"]
        guard let m = reader.mapping(node, path, known: known, required: ["name"]) else { return nil }
        let name = m["name"].flatMap { reader.name($0, "\(path).name") }
        let where_ = name.map { "\(path) ('\($0)')" } ?? path
        var ok = true
        let type = m["type"].map { reader.oneOf($0, "\(where_).type", ["fluidity", "ttft_tbt", "ttft_tpot"]) } ?? "fluidity"
        func field<T>(_ key: String, _ read: (Node) -> T?) -> T? {
            guard let n = m[key] else { return nil }
            let v = read(n)
            if v == nil { ok = false }
            return v
        }
        func unused(_ keys: [String], _ reason: String) {
            for key in keys where m[key] != nil { reader.problem(at: m[key], "\(where_).\(key): \(reason)"); ok = false }
        }
        let tbtDeadline = field("tbt_deadline_s") { reader.number($0, "\(where_).tbt_deadline_s", .above(0), unit: "seconds") } ?? 0.03
        let maxErrors = field("max_error_rate") { reader.number($0, "\(where_).max_error_rate", .atLeast(0), .atMost(1)) } ?? 0.01

        var kind: SLOKind?
        switch type {
        case "fluidity":
            unused(["ttft", "tbt", "tpot"], "only ttft_tbt and ttft_tpot SLOs take this key")
            let p = percentile(m, where_, &ok) ?? 99
            let target = field("fluidity_target") { reader.number($0, "\(where_).fluidity_target", .above(0), .atMost(1)) } ?? 0.9
            kind = .fluidity(percentile: p, target: target)
        case let .some(type) where type == "ttft_tbt" || type == "ttft_tpot":
            unused(["percentile", "quantile", "fluidity_target"], "only fluidity SLOs take this key")
            let second = type == "ttft_tbt" ? "tbt" : "tpot"
            unused([type == "ttft_tbt" ? "tpot" : "tbt"], "a \(type) SLO takes 'ttft' and '\(second)'")
            for key in ["ttft", second] where m[key] == nil {
                reader.problem(at: node, "\(where_): a \(type) SLO needs '\(key)': {percentile: 99, limit_s: ...}"); ok = false
            }
            let ttft = field("ttft") { latency($0, "\(where_).ttft") }
            let other = field(second) { latency($0, "\(where_).\(second)") }
            if let ttft, let other { kind = type == "ttft_tbt" ? .ttftTBT(ttft: ttft, tbt: other) : .ttftTPOT(ttft: ttft, tpot: other) }
        default:
            ok = false
        }

        let mode = field("prefill_model") { reader.oneOf($0, "\(where_).prefill_model", ["per_system", "reference", "fixed"]) } ?? "per_system"
        let slack = field("ttft_slack_s") { reader.number($0, "\(where_).ttft_slack_s", .atLeast(0), unit: "seconds") } ?? 0.3
        var deadline: TTFTDeadlineMode?
        switch mode {
        case "fixed":
            unused(["ttft_slack_s", "reference_system"], "a fixed first-token deadline takes 'ttft_deadline_s' only")
            if m["ttft_deadline_s"] == nil { reader.problem(at: node, "\(where_): prefill_model 'fixed' needs 'ttft_deadline_s'"); ok = false }
            deadline = field("ttft_deadline_s") { reader.number($0, "\(where_).ttft_deadline_s", .above(0), unit: "seconds") }.map(TTFTDeadlineMode.fixed)
        case "reference":
            unused(["ttft_deadline_s"], "only prefill_model 'fixed' takes a fixed deadline")
            if m["reference_system"] == nil { reader.problem(at: node, "\(where_): prefill_model 'reference' needs 'reference_system'"); ok = false }
            deadline = field("reference_system") { reader.name($0, "\(where_).reference_system") }.map { .referenceSystem($0, slackS: slack) }
        case "per_system":
            unused(["ttft_deadline_s"], "only prefill_model 'fixed' takes a fixed deadline")
            unused(["reference_system"], "only prefill_model 'reference' takes a reference system")
            deadline = .perSystem(slackS: slack)
        default:
            ok = false
        }
        guard ok, let name, let kind, let deadline else { return nil }
        return (name, SLOSpec(name: name, kind: kind, ttftDeadline: deadline, tbtDeadlineS: tbtDeadline, maxErrorRate: maxErrors))
    }

    func latency(_ node: Node, _ path: String) -> LatencyLimit? {
        guard let m = reader.mapping(node, path, known: ["percentile", "quantile", "limit_s"], required: ["limit_s"]) else { return nil }
        var ok = true
        let p = percentile(m, path, &ok)
        if m["percentile"] == nil && m["quantile"] == nil {
            reader.problem(at: node, "\(path): missing required key 'percentile' (0 < p < 100) or 'quantile' (0 < q < 1)")
        }
        let limit = m["limit_s"].flatMap { reader.number($0, "\(path).limit_s", .above(0), unit: "seconds") }
        guard ok, let p, let limit else { return nil }
        return LatencyLimit(percentile: p, limitS: limit)
    }

    /// `percentile: 99` or, equivalently, `quantile: 0.99`; nil when neither is given.
    func percentile(_ m: [String: Node], _ path: String, _ ok: inout Bool) -> Double? {
        switch (m["percentile"], m["quantile"]) {
        case (nil, nil): return nil
        case (_?, _?):
            reader.problem(at: m["quantile"], "\(path): give either 'percentile' or 'quantile', not both")
            ok = false
            return nil
        case let (p?, nil):
            let v = reader.number(p, "\(path).percentile", .above(0), .below(100))
            if v == nil { ok = false }
            return v
        case let (nil, q?):
            let v = reader.number(q, "\(path).quantile", .above(0), .below(1)).map { $0 * 100 }
            if v == nil { ok = false }
            return v
        }
    }

    // MARK: settings

    func searchSettings(_ node: Node) -> SearchSettings {
        var s = SearchSettings()
        let path = "search"
        guard let m = reader.mapping(node, path, known: ["strategy", "start_rate", "growth_factor", "relative_ci_width", "confidence",
                                                         "probe_budget", "min_rate", "max_rate", "bisect_granularity",
                                                         "bisect_max_iterations", "parallel_systems"]) else { return s }
        if let n = m["strategy"], let v = reader.oneOf(n, "\(path).strategy", SearchStrategy.allCases.map(\.rawValue)) {
            s.strategy = SearchStrategy(rawValue: v)!
        }
        if let n = m["start_rate"], let v = reader.number(n, "\(path).start_rate", .above(0), unit: "requests per second") { s.startRate = v }
        if let n = m["growth_factor"], let v = reader.number(n, "\(path).growth_factor", .above(1)) { s.growthFactor = v }
        if let n = m["relative_ci_width"], let v = reader.number(n, "\(path).relative_ci_width", .above(0), .atMost(2)) { s.relativeCIWidth = v }
        if let n = m["confidence"], let v = reader.number(n, "\(path).confidence", .above(0), .below(1)) { s.confidence = v }
        if let n = m["probe_budget"], let v = reader.integer(n, "\(path).probe_budget", atLeast: 2) { s.probeBudget = v }
        if let n = m["min_rate"], let v = reader.number(n, "\(path).min_rate", .above(0), unit: "requests per second") { s.minRate = v }
        if let n = m["max_rate"], let v = reader.number(n, "\(path).max_rate", .above(0), unit: "requests per second") { s.maxRate = v }
        if let n = m["bisect_granularity"], let v = reader.number(n, "\(path).bisect_granularity", .above(0), .below(1)) { s.bisectGranularity = v }
        if let n = m["bisect_max_iterations"], let v = reader.integer(n, "\(path).bisect_max_iterations", atLeast: 1) { s.bisectMaxIterations = v }
        if let n = m["parallel_systems"], let v = reader.integer(n, "\(path).parallel_systems", atLeast: 1) { s.parallelSystems = v }
        if s.minRate >= s.maxRate {
            reader.problem(at: m["max_rate"] ?? m["min_rate"] ?? node, "\(path): max_rate (\(YAMLReader.text(s.maxRate))) must be above min_rate (\(YAMLReader.text(s.minRate)))")
        } else if !(s.minRate...s.maxRate).contains(s.startRate) {
            reader.problem(at: m["start_rate"] ?? node, "\(path).start_rate: expected a rate between min_rate (\(YAMLReader.text(s.minRate))) and max_rate (\(YAMLReader.text(s.maxRate))), got \(YAMLReader.text(s.startRate))")
        }
        return s
    }

    func probeSettings(_ node: Node) -> (ProbeWindow, ValidityRules) {
        var w = ProbeWindow(), r = ValidityRules()
        let path = "probe"
        guard let m = reader.mapping(node, path, known: ["requests", "bracket_requests", "duration_s", "warmup_s", "plan_per_rate", "server_metrics", "server_metrics_url", "min_requests", "rate_tolerance", "lag_threshold_s",
                                                         "max_ttft_rise", "ttft_rise_floor_s", "drain_grace_s",
                                                         "max_outstanding_fraction"]) else { return (w, r) }
        if let n = m["duration_s"], let v = reader.number(n, "\(path).duration_s", .above(0), unit: "seconds") { w.durationS = v }
        if let n = m["warmup_s"], let v = reader.number(n, "\(path).warmup_s", .atLeast(0), unit: "seconds") { w.warmupS = v }
        if let n = m["plan_per_rate"], let v = reader.bool(n, "\(path).plan_per_rate") { w.planPerRate = v }
        if let n = m["requests"], let v = reader.integer(n, "\(path).requests", atLeast: 1) { w.requests = v }
        if let n = m["bracket_requests"], let v = reader.integer(n, "\(path).bracket_requests", atLeast: 1) { w.bracketRequests = v }
        if let n = m["server_metrics"], let v = reader.bool(n, "\(path).server_metrics") { w.serverMetrics = v }
        if let n = m["server_metrics_url"], let v = reader.string(n, "\(path).server_metrics_url") {
            if let c = URLComponents(string: v), ["http", "https"].contains(c.scheme?.lowercased() ?? ""), c.host?.isEmpty == false {
                w.serverMetricsURL = v
            } else {
                reader.problem(at: n, "\(path).server_metrics_url: expected an http:// or https:// URL with a host, got '\(v)'")
            }
        }
        if let n = m["min_requests"], let v = reader.integer(n, "\(path).min_requests", atLeast: 1) { r.minRequests = v }
        if let n = m["rate_tolerance"], let v = reader.number(n, "\(path).rate_tolerance", .above(0), .below(1)) { r.rateTolerance = v }
        if let n = m["lag_threshold_s"], let v = reader.number(n, "\(path).lag_threshold_s", .above(0), unit: "seconds") { r.lagThresholdS = v }
        if let n = m["max_ttft_rise"], let v = reader.number(n, "\(path).max_ttft_rise", .above(0)) { r.maxTTFTRise = v }
        if let n = m["ttft_rise_floor_s"], let v = reader.number(n, "\(path).ttft_rise_floor_s", .atLeast(0), unit: "seconds") { r.ttftRiseFloorS = v }
        if let n = m["drain_grace_s"], let v = reader.number(n, "\(path).drain_grace_s", .atLeast(0), unit: "seconds") { r.drainGraceS = v }
        if let n = m["max_outstanding_fraction"], let v = reader.number(n, "\(path).max_outstanding_fraction", .atLeast(0), .atMost(1)) {
            r.maxOutstandingFraction = v
        }
        return (w, r)
    }

    func prefillLadder(_ node: Node) -> PrefillLadder {
        var ladder = PrefillLadder.standard
        let path = "prefill"
        guard let m = reader.mapping(node, path, known: ["lengths", "requests_per_length"]) else { return ladder }
        if let n = m["lengths"], let nodes = reader.sequence(n, "\(path).lengths") {
            let lengths = nodes.enumerated().compactMap { reader.integer($1, "\(path).lengths[\($0)]", atLeast: 1) }
            if lengths.count == nodes.count {
                if Set(lengths).count < 3 {
                    reader.problem(at: n, "\(path).lengths: expected at least 3 different prompt lengths for a degree-2 fit, got \(Set(lengths).count)")
                } else {
                    ladder.lengths = lengths
                }
            }
        }
        if let n = m["requests_per_length"], let v = reader.integer(n, "\(path).requests_per_length", atLeast: 1) { ladder.requestsPerLength = v }
        return ladder
    }
}
