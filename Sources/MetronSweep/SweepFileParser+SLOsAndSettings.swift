import Foundation
import MetronSearch
import MetronModel
import MetronLoad
import MetronSimModel
import Yams

extension SweepParser {
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
