import Foundation
import MetronSearch
import MetronModel
import MetronLoad
import MetronReport
import MetronSimModel

/// Everything besides rate and attempt that changes what a probe's records mean, as named settings.
/// A stored probe is reused only under an identical identity; otherwise `differences` says which
/// settings changed ("min_requests 100 -> 300").
///
/// Left out on purpose: the SLO and validity thresholds (verdicts are recomputed from the records),
/// the API key, and real-time priority (it changes only how closely the client keeps to the plan,
/// which every probe's validity check measures for itself).
public struct ProbeIdentity: Sendable, Equatable, Codable {
    public var settings: [String: String]

    /// Version of what a probe directory holds. Raise it when records or their meaning change.
    public static let recordFormatVersion = 2

    public init(settings: [String: String]) { self.settings = settings }

    public init(system: SystemSpec, workload: WorkloadSpec, sweep: SweepFile, measurement: MeasurementMode) {
        var s = SystemIdentity(system.kind).settings
        s["record_format"] = String(Self.recordFormatVersion)
        s.merge(Self.settings(of: workload), uniquingKeysWith: { $1 })
        s["requests"] = String(sweep.probe.plannedRequests(bracketing: false))
        s["bracket_requests"] = String(sweep.probe.plannedRequests(bracketing: true))
        s["duration_s"] = sweep.probe.durationS.map(number) ?? "as the requests take"
        s["warmup_s"] = number(sweep.probe.warmupS)
        s["plan_per_rate"] = String(sweep.probe.planPerRate)
        if sweep.probe.resetPrefixCache == true, case .http = measurement { s["reset_prefix_cache"] = "true" }
        s["min_requests"] = String(sweep.validity.minRequests)
        s["drain_grace_s"] = number(sweep.validity.drainGraceS)
        switch measurement {
        case .virtual:
            s["measured_by"] = "serving model in virtual time"
        case let .http(options):
            s["measured_by"] = "load generator over HTTP"
            s["connect_timeout_s"] = number(options.timeouts.connect)
            s["first_token_timeout_s"] = number(options.timeouts.firstToken)
            s["total_timeout_s"] = number(options.timeouts.total)
            s["drain_timeout_s"] = options.drainTimeout.map(number) ?? "drain_grace_s"
            s["max_in_flight"] = options.maxInFlight.map(String.init) ?? "none (open loop)"
        }
        settings = s
    }

    static func settings(of w: WorkloadSpec) -> [String: String] {
        var s: [String: String] = [:]
        switch w.arrival {
        case .poisson: s["arrival"] = "poisson"
        case .constant: s["arrival"] = "constant"
        case let .gamma(cv): s["arrival"] = "gamma, cv \(number(cv))"
        case let .trace(offsets): s["arrival"] = "trace of \(offsets.count) offsets #\(stableHash("\(offsets)"))"
        }
        switch w.lengths {
        case let .distributions(prompt, output):
            s["prompt_tokens"] = "\(prompt)"
            s["output_tokens"] = "\(output)"
        case let .trace(rows):
            s["lengths"] = "trace of \(rows.count) rows #\(stableHash("\(rows)"))"
        }
        s["prompt_scale"] = number(w.promptScale)
        s["output_scale"] = number(w.outputScale)
        s["max_total_tokens"] = w.maxTotalTokens.map(String.init) ?? "none"
        s["workload_seed"] = String(w.seed)
        if let p = w.sharedPrefix { s["shared_prefix"] = "\(p.count) of \(p.tokens) tokens, fraction \(number(p.fraction))" }
        if let sessions = w.sessions { s["sessions"] = "turns \(sessions.turns), think time \(sessions.thinkTimeS)" }
        return s
    }

    /// The settings that differ, each as "key old -> new", in key order.
    public func differences(from stored: ProbeIdentity) -> [String] { settingDifferences(settings, from: stored.settings) }
}

/// What a system is, as named settings: the server (URL without credentials, model, API, request
/// shape) or the simulator (its full configuration). Two systems of one name in one results
/// directory must have the same identity.
public struct SystemIdentity: Sendable, Equatable, Codable {
    public var settings: [String: String]

    public init(settings: [String: String]) { self.settings = settings }

    public init(_ target: SystemKind) {
        var s: [String: String] = [:]
        switch target {
        case let .server(e):
            s["url"] = ServerTarget.withoutCredentials(e.url.absoluteString)
            s["model"] = e.model ?? "default"
            s["api"] = e.api.rawValue
            s["ignore_eos"] = String(e.shape.ignoreEOS)
            s["min_tokens"] = String(e.shape.minTokens)
            s["extra_body"] = e.shape.extraBody ?? "none"
        case let .simulator(config):
            s["simulator"] = "\(config.hardware.name), \(config.model.name), tp \(config.tensorParallel), \(config.scheduler.kind.rawValue)"
            let json = (try? JSON.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? "\(config)"
            s["simulator_config"] = "#" + stableHash(json)
        }
        settings = s
    }

    public static let fileName = "system.json"

    /// Records the identity of `system` in its results directory, or checks it against the one
    /// recorded there: a name already taken by another system is an error, never an overwrite.
    public static func claim(_ system: SystemSpec, in layout: ResultsLayout) throws {
        let url = layout.systemDirectory(system.name).appendingPathComponent(fileName)
        let identity = SystemIdentity(system.kind)
        if FileManager.default.fileExists(atPath: url.path) {
            let stored: SystemIdentity
            do { stored = try JSON.decode(SystemIdentity.self, from: url) } catch {
                throw SweepError.cannotMeasure(system: system.name, "cannot read \(url.path): \(error)")
            }
            let changed = settingDifferences(identity.settings, from: stored.settings)
            guard changed.isEmpty else { throw SweepError.nameTaken(system: system.name, directory: url.deletingLastPathComponent().path, changed) }
            return
        }
        try AtomicWrite.json(identity, to: url)
    }
}

/// Named settings that differ, each as "key old -> new", in key order.
func settingDifferences(_ settings: [String: String], from stored: [String: String]) -> [String] {
    func short(_ value: String) -> String { value.count <= 60 ? value : value.prefix(57) + "..." }
    return Set(settings.keys).union(stored.keys).sorted().compactMap { key in
        let old = stored[key], new = settings[key]
        guard old != new else { return nil }
        return "\(key) \(old.map(short) ?? "(not recorded)") -> \(new.map(short) ?? "(not set)")"
    }
}

/// FNV-1a as hex: short, stable across runs and platforms (Swift's Hasher is seeded per process).
func stableHash(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return String(hash, radix: 16)
}

private func number(_ x: Double) -> String { String(format: "%g", x) }
