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
        let probe = top["probe"].map(probeSettings) ?? ProbeSettings()
        let prefill = top["prefill"].map(prefillLadder) ?? .standard

        // Cross-references: an SLO may borrow one system's prefill model, and must be able to judge every system.
        if let slos, let systems, let sloNodes = top["slos"].flatMap({ node -> [Node]? in
            if case let .sequence(s) = node { return Array(s) } else { return nil }
        }) {
            for (spec, node) in zip(slos, sloNodes) {
                if case let .referenceSystem(ref, _) = spec.ttftDeadline, !systems.contains(where: { $0.name == ref }) {
                    let target = node.mapping?["reference_system"] ?? node
                    let hint = YAMLReader.suggestion(for: ref, among: systems.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
                    reader.problem(at: target, "slos: '\(spec.name)' takes its prefill model from system '\(ref)', which the sweep does not list\(hint)")
                }
                for problem in systems.compactMap(spec.problem(with:)) {
                    reader.problem(at: node.mapping?["fluidity_tokens"] ?? node, "slos: \(problem)")
                }
            }
        }
        if let systems, let workloads, let workloadNodes = top["workloads"].flatMap({ node -> [Node]? in
            if case let .sequence(s) = node { return Array(s) } else { return nil }
        }) {
            for (workload, node) in zip(workloads, workloadNodes) where workload.spec.sessions != nil {
                for system in systems {
                    guard case let .server(server) = system.kind, server.api != .chat else { continue }
                    reader.problem(at: node.mapping?["sessions"] ?? node,
                        "workloads: '\(workload.name)' has sessions, whose turns carry the conversation as chat messages, "
                            + "but system '\(system.name)' uses the \(server.api.rawValue) API; give it api: chat")
                }
            }
        }
        guard let name, let systems, let workloads, let slos else { return nil }
        // One plan per probe for every SLO: sized for the strictest.
        let level = slos.map(\.kind.attainmentLevel).max() ?? 0.99
        return SweepFile(name: name, systems: systems, workloads: workloads, slos: slos, search: search,
                         probe: probe.window.resolved(forLevel: level),
                         validity: probe.validity, prefill: prefill)
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

    /// Keys of the `simulator:` block that are scheduler knobs.
    static let schedulerKnobs = ["max_batch_size", "max_batched_tokens", "token_budget", "watermark"]

    func system(_ node: Node, _ path: String) -> (name: String, value: SystemSpec)? {
        guard let m = reader.mapping(node, path, known: ["name", "url", "model", "api_key_env", "api_key_file", "api", "ignore_eos",
                                                         "min_tokens", "extra_body", "simulator", "hardware", "gpus", "usd_per_hour"],
                                     required: ["name"]) else { return nil }
        let name = m["name"].flatMap { reader.name($0, "\(path).name") }
        let where_ = name.map { "\(path) ('\($0)')" } ?? path
        let hardware = m["hardware"].flatMap { reader.string($0, "\(where_).hardware") }
        let gpus = m["gpus"].map { reader.integer($0, "\(where_).gpus", atLeast: 1) } ?? 1
        let price = m["usd_per_hour"].flatMap { reader.number($0, "\(where_).usd_per_hour", .atLeast(0), unit: "dollars per hour") }
        var kind: SystemKind?
        switch (m["url"], m["simulator"]) {
        case (nil, nil):
            reader.problem(at: node, "\(where_): expected either 'url' (a server) or 'simulator' (the built-in simulator)")
        case (.some, .some):
            reader.problem(at: m["simulator"], "\(where_): give either 'url' or 'simulator', not both")
        case let (url?, nil):
            kind = server(url: url, m, where_).map(SystemKind.server)
        case let (nil, sim?):
            for key in ["model", "api_key_env", "api_key_file", "api", "ignore_eos", "min_tokens", "extra_body"] where m[key] != nil {
                reader.problem(at: m[key], "\(where_).\(key): only a 'url' system takes '\(key)'; for the simulator put the model under 'simulator'")
            }
            kind = simulator(sim, "\(where_).simulator").map(SystemKind.simulator)
        }
        guard let name, let kind, let gpus, m["usd_per_hour"] == nil || price != nil, m["hardware"] == nil || hardware != nil
        else { return nil }
        return (name, SystemSpec(name: name, kind: kind, hardware: hardware, gpus: gpus, usdPerHour: price))
    }

    /// `url: ${NAME}` takes the URL from the environment variable NAME (checked only when the
    /// environment is given).
    func server(url node: Node, _ m: [String: Node], _ path: String) -> ServerSpec? {
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
        return ServerSpec(url: url, model: model, apiKeyEnv: keyEnv, apiKeyFile: keyFile, api: api ?? .completions,
                        shape: RequestShape(ignoreEOS: ignoreEOS ?? true, minTokens: minTokens ?? false, extraBody: extraBody))
    }

    /// `hardware` and `model` are built-in profile names or whole custom profiles (mappings);
    /// scheduler knobs and `efficiency` constants sit beside them. The simulator's own decoder checks
    /// the result, so every problem it finds is reported at this block.
    func simulator(_ node: Node, _ path: String) -> SimulatorConfig? {
        let known = ["hardware", "model", "scheduler", "tp", "efficiency", "seed", "prefix_caching", "reasoning_tokens"] + Self.schedulerKnobs
        guard let m = reader.mapping(node, path, known: known, required: ["hardware", "model", "scheduler"]) else { return nil }
        for key in ["hardware", "model"] {
            if let value = m[key], case .sequence = value {
                reader.problem(at: value, "\(path).\(key): expected a built-in profile name or a mapping of profile fields, got a list")
            }
        }
        let scheduler = m["scheduler"].flatMap { reader.oneOf($0, "\(path).scheduler", SchedulerKind.allCases.map(\.rawValue)) }
        let tp = m["tp"].map { reader.integer($0, "\(path).tp", atLeast: 1) } ?? 1
        let prefixCaching = m["prefix_caching"].map { reader.bool($0, "\(path).prefix_caching") } ?? false
        guard let scheduler, let tp, let prefixCaching, let hardware = m["hardware"], let model = m["model"] else { return nil }
        var schedulerJSON: [String: Any] = ["kind": scheduler]
        for key in Self.schedulerKnobs { if let v = m[key] { schedulerJSON[key] = YAMLReader.jsonValue(v) } }
        var json: [String: Any] = [
            "hardware": YAMLReader.jsonValue(hardware), "model": YAMLReader.jsonValue(model), "tensor_parallel": tp,
            "scheduler": schedulerJSON,
        ]
        if let e = m["efficiency"] { json["efficiency"] = YAMLReader.jsonValue(e) }
        if let seed = m["seed"] { json["seed"] = YAMLReader.jsonValue(seed) }
        if let reasoning = m["reasoning_tokens"] { json["reasoning_tokens"] = YAMLReader.jsonValue(reasoning) }
        if prefixCaching { json["prefix_caching"] = true }
        do {
            let data = try JSONSerialization.data(withJSONObject: json)
            let config = try JSONDecoder().decode(SimulatorConfig.self, from: data)
            _ = try config.costModel()
            return config
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
}
