import Foundation
import MetronSearch
import MetronModel
import MetronLoad
import MetronSimModel
import Yams

extension SweepParser {
    func slo(_ node: Node, _ path: String) -> (name: String, value: SLOSpec)? {
        let known = ["name", "type", "percentile", "quantile", "fluidity_target", "tbt_deadline_s", "prefill_model", "reference_system",
                     "ttft_slack_s", "ttft_deadline_s", "max_error_rate", "ttft", "tbt", "tpot", "fluidity_tokens"]
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
        let tbtDeadline = field("tbt_deadline_s") { reader.number($0, "\(where_).tbt_deadline_s", .above(0), unit: "seconds") } ?? SLODefaults.tbtDeadlineS
        let tokens = field("fluidity_tokens") {
            reader.oneOf($0, "\(where_).fluidity_tokens", FluidityTokens.allCases.map(\.rawValue)).flatMap(FluidityTokens.init)
        } ?? SLODefaults.fluidityTokens
        let maxErrors = field("max_error_rate") { reader.number($0, "\(where_).max_error_rate", .atLeast(0), .atMost(1)) } ?? SLODefaults.maxErrorRate

        var kind: SLOKind?
        switch type {
        case "fluidity":
            unused(["ttft", "tbt", "tpot"], "only ttft_tbt and ttft_tpot SLOs take this key")
            let p = percentile(m, where_, &ok) ?? SLODefaults.percentile
            let target = field("fluidity_target") { reader.number($0, "\(where_).fluidity_target", .above(0), .atMost(1)) } ?? SLODefaults.fluidityTarget
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
        let slack = field("ttft_slack_s") { reader.number($0, "\(where_).ttft_slack_s", .atLeast(0), unit: "seconds") } ?? SLODefaults.firstTokenSlackS
        var deadline: FirstTokenDeadlineRule?
        switch mode {
        case "fixed":
            unused(["ttft_slack_s", "reference_system"], "a fixed first-token deadline takes 'ttft_deadline_s' only")
            if m["ttft_deadline_s"] == nil { reader.problem(at: node, "\(where_): prefill_model 'fixed' needs 'ttft_deadline_s'"); ok = false }
            deadline = field("ttft_deadline_s") { reader.number($0, "\(where_).ttft_deadline_s", .above(0), unit: "seconds") }.map(FirstTokenDeadlineRule.fixed)
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
        return (name, SLOSpec(name: name, kind: kind, ttftDeadline: deadline, tbtDeadlineS: tbtDeadline, maxErrorRate: maxErrors,
                             fluidityTokens: tokens))
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

    static var searchKeys: [SettingKey<SearchSettings>] { [
        SettingKey(name: "strategy") { reader, node, path, s in
            if let v = reader.oneOf(node, path, SearchStrategy.allCases.map(\.rawValue)) { s.strategy = SearchStrategy(rawValue: v)! }
        },
        .number("start_rate", \.startRate, .above(0), unit: "requests per second"),
        .number("growth_factor", \.growthFactor, .above(1)),
        .number("relative_ci_width", \.relativeCIWidth, .above(0), .atMost(2)),
        .number("confidence", \.confidence, .above(0), .below(1)),
        .integer("probe_budget", \.probeBudget, atLeast: 2),
        .number("min_rate", \.minRate, .above(0), unit: "requests per second"),
        .number("max_rate", \.maxRate, .above(0), unit: "requests per second"),
        .number("bisect_granularity", \.bisectGranularity, .above(0), .below(1)),
        .integer("bisect_max_iterations", \.bisectMaxIterations, atLeast: 1),
        .integer("parallel_systems", \.parallelSystems, atLeast: 1),
        .integer("paired_plans", \.pairedPlans, atLeast: 0),
    ] }

    func searchSettings(_ node: Node) -> SearchSettings {
        var s = SearchSettings()
        let path = "search"
        guard let m = reader.settings(node, path, keys: Self.searchKeys, into: &s) else { return s }
        if s.pairedPlans == 1 {
            reader.problem(at: m["paired_plans"] ?? node, "\(path).paired_plans: one plan gives no interval for the ratio; expected 0 (compare intervals only) or at least 2, got 1")
        }
        if s.minRate >= s.maxRate {
            reader.problem(at: m["max_rate"] ?? m["min_rate"] ?? node, "\(path): max_rate (\(YAMLReader.text(s.maxRate))) must be above min_rate (\(YAMLReader.text(s.minRate)))")
        } else if !(s.minRate...s.maxRate).contains(s.startRate) {
            reader.problem(at: m["start_rate"] ?? node, "\(path).start_rate: expected a rate between min_rate (\(YAMLReader.text(s.minRate))) and max_rate (\(YAMLReader.text(s.maxRate))), got \(YAMLReader.text(s.startRate))")
        }
        return s
    }

    /// The `probe:` block: how a probe is planned and when it is valid.
    struct ProbeSettings {
        var window = ProbeWindow()
        var validity = ValidityRules()
    }

    static var probeKeys: [SettingKey<ProbeSettings>] { [
        .integer("requests", \.window.requests, atLeast: 1),
        .integer("bracket_requests", \.window.bracketRequests, atLeast: 1),
        .number("duration_s", \.window.durationS, .above(0), unit: "seconds"),
        .number("warmup_s", \.window.warmupS, .atLeast(0), unit: "seconds"),
        .bool("plan_per_rate", \.window.planPerRate),
        .bool("server_metrics", \.window.serverMetrics),
        SettingKey(name: "server_metrics_url") { reader, node, path, s in
            guard let v = reader.string(node, path) else { return }
            if let c = URLComponents(string: v), ["http", "https"].contains(c.scheme?.lowercased() ?? ""), c.host?.isEmpty == false {
                s.window.serverMetricsURL = v
            } else {
                reader.problem(at: node, "\(path): expected an http:// or https:// URL with a host, got '\(v)'")
            }
        },
        SettingKey(name: "reset_prefix_cache") { reader, node, path, s in
            if let v = reader.bool(node, path) { s.window.resetPrefixCache = v ? true : nil }
        },
        .integer("min_requests", \.validity.minRequests, atLeast: 1),
        .number("rate_tolerance", \.validity.rateTolerance, .above(0), .below(1)),
        .number("lag_threshold_s", \.validity.lagThresholdS, .above(0), unit: "seconds"),
        .number("max_ttft_rise", \.validity.maxTTFTRise, .above(0)),
        .number("ttft_rise_floor_s", \.validity.ttftRiseFloorS, .atLeast(0), unit: "seconds"),
        .number("drain_grace_s", \.validity.drainGraceS, .atLeast(0), unit: "seconds"),
        .number("max_outstanding_fraction", \.validity.maxOutstandingFraction, .atLeast(0), .atMost(1)),
    ] }

    func probeSettings(_ node: Node) -> ProbeSettings {
        var s = ProbeSettings()
        _ = reader.settings(node, "probe", keys: Self.probeKeys, into: &s)
        return s
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
