import Foundation
import MetronCore
import MetronLoad
import MetronSimModel
import Yams

/// An OpenAI-compatible server to measure.
public struct Endpoint: Sendable, Equatable {
    public var url: URL
    public var model: String?
    /// Name of the environment variable holding the API key (the key itself is never stored here).
    public var apiKeyEnv: String?
    /// Path of a file holding the API key.
    public var apiKeyFile: String?
    public var api: APIKind
    /// `ignore_eos`, `min_tokens` and extra body fields of every request.
    public var shape: RequestShape

    public init(
        url: URL, model: String? = nil, apiKeyEnv: String? = nil, apiKeyFile: String? = nil, api: APIKind = .completions,
        shape: RequestShape = RequestShape(ignoreEOS: true)
    ) {
        self.url = url
        self.model = model
        self.apiKeyEnv = apiKeyEnv
        self.apiKeyFile = apiKeyFile
        self.api = api
        self.shape = shape
    }
}

/// The built-in simulator as a system: profile names for reports and the checked configuration.
public struct SimulatorSpec: Sendable, Equatable {
    public var hardware: String
    public var model: String
    public var scheduler: String
    public var tensorParallel: Int
    /// The serving model's full configuration (built-in or custom profiles, scheduler knobs).
    public var config: SimulatorConfig

    public init(config: SimulatorConfig) {
        hardware = config.hardware.name
        model = config.model.name
        scheduler = config.scheduler.kind.rawValue
        tensorParallel = config.tensorParallel
        self.config = config
    }

    public static let schedulers = SchedulerKind.allCases.map(\.rawValue)
    /// Keys of the `simulator:` block that are scheduler knobs.
    static let schedulerKnobs = ["max_batch_size", "max_batched_tokens", "token_budget", "watermark"]
}

public enum SystemTarget: Sendable, Equatable {
    case endpoint(Endpoint)
    case simulator(SimulatorSpec)
}

/// One system of a sweep.
public struct SystemSpec: Sendable, Equatable {
    public var name: String
    public var target: SystemTarget
    /// Hardware label for reports.
    public var hardware: String?
    public var gpus: Int
    public var usdPerHour: Double?

    public init(name: String, target: SystemTarget, hardware: String? = nil, gpus: Int = 1, usdPerHour: Double? = nil) {
        self.name = name
        self.target = target
        self.hardware = hardware
        self.gpus = gpus
        self.usdPerHour = usdPerHour
    }

    /// A results-directory name from the parts that tell systems apart (host, port and model of a
    /// server; hardware, model, TP degree and scheduler of a simulator), lowercased, with every
    /// character other than letters, digits, '.', '_' and '-' replaced by '-'.
    public static func defaultName(_ parts: String?...) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-")
        return parts.compactMap { $0 }.map { part in
            String(part.lowercased().map { allowed.contains($0) ? $0 : "-" })
        }.joined(separator: "-")
    }
}

/// A workload of a sweep.
public struct WorkloadEntry: Sendable, Equatable {
    public var name: String
    public var spec: WorkloadSpec
    /// The trace file the lengths (or arrivals) came from, as written in the sweep file.
    public var traceFile: String?

    public init(name: String, spec: WorkloadSpec, traceFile: String? = nil) {
        self.name = name
        self.spec = spec
        self.traceFile = traceFile
    }
}

/// How first-token deadlines are set for an SLO.
public enum TTFTDeadlineMode: Sendable, Equatable {
    /// Each system's own prefill model plus the slack.
    case perSystem(slackS: Double)
    /// One system's prefill model for every system, so a slower system gets no looser deadlines.
    case referenceSystem(String, slackS: Double)
    /// The same `D_p` for every request.
    case fixed(Double)
}

/// An SLO as written in a sweep file; `resolve` turns it into an `SLO` for one system.
public struct SLOSpec: Sendable, Equatable {
    public var name: String
    public var kind: SLOKind
    public var ttftDeadline: TTFTDeadlineMode
    public var tbtDeadlineS: Double
    public var maxErrorRate: Double

    public init(name: String, kind: SLOKind = .fluidity(percentile: 99, target: 0.9),
                ttftDeadline: TTFTDeadlineMode = .perSystem(slackS: 0.3), tbtDeadlineS: Double = 0.03, maxErrorRate: Double = 0.01) {
        self.name = name
        self.kind = kind
        self.ttftDeadline = ttftDeadline
        self.tbtDeadlineS = tbtDeadlineS
        self.maxErrorRate = maxErrorRate
    }

    /// Whether this SLO needs a prefill model, and whose.
    public func prefillSystem(for system: String) -> String? {
        switch ttftDeadline {
        case .perSystem: return system
        case let .referenceSystem(name, _): return name
        case .fixed: return nil
        }
    }

    /// The SLO with its deadlines settled; `prefill` is the model of `prefillSystem(for:)`.
    public func resolve(prefill: PrefillModel?) throws -> SLO {
        let ttft: TTFTDeadlinePolicy
        switch ttftDeadline {
        case let .fixed(d): ttft = .fixed(d)
        case let .perSystem(slack), let .referenceSystem(_, slack):
            guard let prefill else { throw SweepError.missingPrefillModel(slo: name) }
            ttft = prefill.deadlinePolicy(slack: slack)
        }
        return SLO(name: name, kind: kind, deadlines: DeadlineSpec(ttft: ttft, tbt: tbtDeadlineS), maxErrorRate: maxErrorRate)
    }
}

public enum SweepError: Error, Equatable, CustomStringConvertible {
    case missingPrefillModel(slo: String)
    /// A system cannot be measured as asked.
    case cannotMeasure(system: String, String)
    /// The results directory already holds another system under this name.
    case nameTaken(system: String, directory: String, [String])
    public var description: String {
        switch self {
        case let .missingPrefillModel(slo): return "SLO '\(slo)' sets deadlines from a prefill model, but none was given"
        case let .cannotMeasure(system, why): return "system '\(system)': \(why)"
        case let .nameTaken(system, directory, changes):
            return "system '\(system)': \(directory) holds the results of another system of that name ("
                + changes.joined(separator: "; ") + "); give this one another name or use another results directory"
        }
    }
}

/// How long each probe runs.
public struct ProbeWindow: Sendable, Equatable, Codable {
    /// Requests planned in the measurement window of a probe near capacity; nil: as many as the
    /// sweep's strictest SLO needs (`requests(forLevel:)`).
    public var requests: Int?
    /// Requests planned in the window of a bracketing probe; nil: a quarter of `requests`. Bracketing
    /// probes, far from capacity on one side or the other, only need a verdict; the fit weighs every
    /// probe by its requests.
    public var bracketRequests: Int?
    /// The window of a probe near capacity lasts at least this long, seconds (nil: as long as its
    /// requests take at the probe's rate).
    public var durationS: Double?
    /// Excluded start of each probe, seconds.
    public var warmupS: Double = 10
    /// Each rate gets its own plan (independent probes, as the interval assumes). When false, the
    /// first attempt at every rate replays the workload's own plan at that speed: steadier answers from
    /// small probes, at the price of an interval blind to that one plan's luck (docs/SEARCH.md).
    public var planPerRate = true
    /// Scrape each server's Prometheus `/metrics` during every probe over HTTP.
    public var serverMetrics = true
    /// Where; nil means the server's base URL without a trailing `/v1`, plus `/metrics`.
    public var serverMetricsURL: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case requests, durationS = "duration_s", warmupS = "warmup_s", planPerRate = "plan_per_rate"
        case bracketRequests = "bracket_requests", serverMetrics = "server_metrics", serverMetricsURL = "server_metrics_url"
    }

    /// Requests expected beyond the percentile at the attainment level, in a probe of the default size:
    /// enough to count the tail, not to guess it from the sample's extremes.
    public static let tailRequests = 10

    /// The default size of a probe near capacity for an attainment level: `tailRequests / (1 - level)`
    /// (1,000 for a P99, 100 for a P90), and never under 100.
    public static func requests(forLevel level: Double) -> Int {
        let tail = ((1 - level) * 1e12).rounded() / 1e12
        guard tail > 0 else { return Int.max / 4 }
        return max(100, Int((Double(tailRequests) / tail).rounded(.up)))
    }

    /// Set when `requests` in a probe near capacity are too few to count the tail at the level.
    public static func tailWarning(requests: Int, level: Double, what: String) -> String? {
        let needed = Self.requests(forLevel: level)
        guard requests < needed else { return nil }
        return "\(what) \(requests) holds about " + String(format: "%.1f", Double(requests) * (1 - level))
            + " requests beyond the P\(trim(level * 100)) at the level: \(needed) are needed to count that tail, "
            + "not guess it from the sample's extremes"
    }

    /// The window with its request counts settled for an attainment level (the strictest SLO's).
    public func resolved(forLevel level: Double) -> ProbeWindow {
        var w = self
        w.requests = requests ?? Self.requests(forLevel: level)
        w.bracketRequests = w.plannedRequests(bracketing: true)
        return w
    }

    /// Requests planned in a probe's window (for an unresolved window, the size of a P99's).
    public func plannedRequests(bracketing: Bool) -> Int {
        let n = requests ?? Self.requests(forLevel: 0.99)
        return bracketing ? bracketRequests ?? max(1, n / 4) : n
    }

    /// The measurement window at `rate`: long enough for the planned requests (and `durationS` near
    /// capacity), stretched so that at least `minRequests` are scheduled in it. Stretching to exactly
    /// `minRequests / rate` would leave the Poisson count short half of the time (and the probe invalid
    /// for too few requests), so that floor is `n + 4 sqrt(n)` expected arrivals: short with probability
    /// under 0.1 %.
    public func measurementS(rate: Double, minRequests: Int, bracketing: Bool = false) -> Double {
        let m = Double(minRequests)
        let floor = bracketing ? 0 : durationS ?? 0
        return max(floor, Double(plannedRequests(bracketing: bracketing)) / rate, (m + 4 * m.squareRoot()) / rate)
    }

    /// Probe time at `rate`: warm-up plus window.
    public func probeS(rate: Double, minRequests: Int, bracketing: Bool = false) -> Double {
        warmupS + measurementS(rate: rate, minRequests: minRequests, bracketing: bracketing)
    }
}

extension ProbeRequest {
    /// The workload seed for this probe, derived from the workload's seed, the rate and the attempt:
    /// the same probe replays the same plan on every system, and a repeat gets its own.
    ///
    /// Different rates get independent plans. A seeded Poisson plan is one sequence of unit-rate gaps
    /// scaled by `1 / rate`, so with one seed for every rate all the probes of a search would replay
    /// the same arrival pattern, stretched: a lucky (or unlucky) pattern would then move every probe
    /// the same way, and the interval, which treats the probes as independent samples, would be far too
    /// narrow (in the accuracy benchmark, docs/BENCHMARKS.md, it contained the true capacity in 69 of 120
    /// searches, against 109 of 120 with a plan per rate).
    /// With `perRate: false` the first attempt at every rate takes the workload's own seed.
    public func seed(workloadSeed: UInt64, perRate: Bool = true) -> UInt64 {
        if !perRate && attempt == 0 { return workloadSeed }
        var z = workloadSeed &+ UInt64(max(0, (rate * 1000).rounded())) &* 0x9E37_79B9_7F4A_7C15
            &+ UInt64(attempt) &* 0xD1B5_4A32_D192_ED03
        // SplitMix64's finaliser: nearby inputs give unrelated seeds.
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A sweep: systems x workloads x SLOs, each a capacity search.
public struct SweepFile: Sendable, Equatable {
    public var name: String
    public var systems: [SystemSpec]
    public var workloads: [WorkloadEntry]
    public var slos: [SLOSpec]
    public var search: SearchSettings
    public var probe: ProbeWindow
    public var validity: ValidityRules
    public var prefill: PrefillLadder

    public init(
        name: String, systems: [SystemSpec], workloads: [WorkloadEntry], slos: [SLOSpec],
        search: SearchSettings = SearchSettings(), probe: ProbeWindow = ProbeWindow(),
        validity: ValidityRules = ValidityRules(), prefill: PrefillLadder = .standard
    ) {
        self.name = name
        self.systems = systems
        self.workloads = workloads
        self.slos = slos
        self.search = search
        self.probe = probe
        self.validity = validity
        self.prefill = prefill
    }

    /// Reads and checks a sweep file; every problem is reported together, with its line and column.
    /// Relative trace paths are resolved against the file's directory. With `environment`, the API key
    /// variables a system names must be set.
    public static func load(path: String, environment: [String: String]? = nil) throws -> SweepFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw InputFileError(problems: [InputProblem(file: path, line: 1, column: 1, message: "cannot read the sweep file: \(error.localizedDescription)")])
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        return try parse(text, file: path, baseDirectory: base, environment: environment)
    }

    public static func parse(_ text: String, file: String, baseDirectory: URL, environment: [String: String]? = nil) throws -> SweepFile {
        let reader = YAMLReader(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw InputFileError(problems: [Self.syntaxProblem(error, file: file)])
        } catch {
            throw InputFileError(problems: [InputProblem(file: file, line: 1, column: 1, message: "not valid YAML: \(error)")])
        }
        guard let root else {
            throw InputFileError(problems: [InputProblem(file: file, line: 1, column: 1, message: "the sweep file is empty; expected keys name, systems, workloads, slos")])
        }
        var parser = SweepParser(reader: reader, baseDirectory: baseDirectory, environment: environment)
        let sweep = parser.sweep(root)
        if !reader.problems.isEmpty || sweep == nil {
            throw InputFileError(problems: reader.problems.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return sweep!
    }

    static func syntaxProblem(_ error: YamlError, file: String) -> InputProblem {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            return InputProblem(file: file, line: mark.line, column: mark.column, message: "not valid YAML: \(what)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return InputProblem(file: file, line: context.mark.line, column: context.mark.column,
                                message: "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in a mapping")
        default:
            return InputProblem(file: file, line: 1, column: 1, message: "not valid YAML: \(error)")
        }
    }
}
