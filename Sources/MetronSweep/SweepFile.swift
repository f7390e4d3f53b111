import Foundation
import MetronSearch
import MetronModel
import MetronLoad
import MetronSimModel
import Yams

/// An OpenAI-compatible server to measure, as a sweep file declares it (the key by reference).
public struct ServerSpec: Sendable, Equatable {
    public var url: URL
    public var model: String?
    /// Name of the environment variable holding the API key (the key itself is never stored here).
    public var apiKeyEnv: String?
    /// Path of a file holding the API key.
    public var apiKeyFile: String?
    /// Where the key comes from, when there is one.
    public var apiKeySource: APIKeySource? {
        apiKeyEnv.map(APIKeySource.environment) ?? apiKeyFile.map(APIKeySource.file)
    }
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

/// What a system of a sweep is: a server to send requests to, or the built-in simulator's serving model.
public enum SystemKind: Sendable, Equatable {
    case server(ServerSpec)
    case simulator(SimulatorConfig)
}

/// One system of a sweep.
public struct SystemSpec: Sendable, Equatable {
    public var name: String
    public var kind: SystemKind
    /// Hardware label for reports.
    public var hardware: String?
    public var gpus: Int
    public var usdPerHour: Double?

    public init(name: String, kind: SystemKind, hardware: String? = nil, gpus: Int = 1, usdPerHour: Double? = nil) {
        self.name = name
        self.kind = kind
        self.hardware = hardware
        self.gpus = gpus
        self.usdPerHour = usdPerHour
    }

    /// The API the system is measured over: a server's own; the simulator's chat API when it
    /// reasons (so its reasoning streams apart), else its completions API.
    public var api: APIKind {
        switch kind {
        case let .server(server): return server.api
        case let .simulator(config): return config.reasoningTokens == nil ? .completions : .chat
        }
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
public enum FirstTokenDeadlineRule: Sendable, Equatable {
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
    public var ttftDeadline: FirstTokenDeadlineRule
    public var tbtDeadlineS: Double
    public var maxErrorRate: Double
    public var fluidityTokens: FluidityTokens

    public init(name: String, kind: SLOKind = SLODefaults.kind,
                ttftDeadline: FirstTokenDeadlineRule = .perSystem(slackS: SLODefaults.firstTokenSlackS),
                tbtDeadlineS: Double = SLODefaults.tbtDeadlineS, maxErrorRate: Double = SLODefaults.maxErrorRate,
                fluidityTokens: FluidityTokens = SLODefaults.fluidityTokens) {
        self.name = name
        self.kind = kind
        self.ttftDeadline = ttftDeadline
        self.tbtDeadlineS = tbtDeadlineS
        self.maxErrorRate = maxErrorRate
        self.fluidityTokens = fluidityTokens
    }

    /// Why this SLO cannot judge `system`, or nil: counting visible tokens apart needs an API that
    /// streams reasoning apart.
    public func problem(with system: SystemSpec) -> String? {
        guard fluidityTokens == .visible, !system.api.separatesReasoning else { return nil }
        let how: String
        switch system.kind {
        case .server: how = "give it api: chat"
        case .simulator: how = "give its simulator reasoning_tokens, which serves it over the chat API"
        }
        return "SLO '\(name)' counts visible tokens only, but system '\(system.name)' streams over the \(system.api.rawValue) API, "
            + "which does not stream reasoning apart from the answer (\(how)), so every token would count as visible"
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
        let ttft: FirstTokenDeadline
        switch ttftDeadline {
        case let .fixed(d): ttft = .fixed(d)
        case let .perSystem(slack), let .referenceSystem(_, slack):
            guard let prefill else { throw SweepError.missingPrefillModel(slo: name) }
            ttft = prefill.deadlinePolicy(slack: slack)
        }
        return SLO(name: name, kind: kind, deadlines: FluidityDeadlines(ttft: ttft, tbt: tbtDeadlineS, tokens: fluidityTokens),
                   maxErrorRate: maxErrorRate)
    }
}

public enum SweepError: Error, Equatable, CustomStringConvertible {
    case missingPrefillModel(slo: String)
    /// A system cannot be measured as asked.
    case cannotMeasure(system: String, String)
    /// The results directory already holds another system under this name.
    case nameTaken(system: String, directory: String, [String])
    /// The finished searches of a sharded sweep cannot be gathered.
    case cannotCollect(String)
    public var description: String {
        switch self {
        case let .missingPrefillModel(slo): return "SLO '\(slo)' sets deadlines from a prefill model, but none was given"
        case let .cannotMeasure(system, why): return "system '\(system)': \(why)"
        case let .nameTaken(system, directory, changes):
            return "system '\(system)': \(directory) holds the results of another system of that name ("
                + changes.joined(separator: "; ") + "); give this one another name or use another results directory"
        case let .cannotCollect(why): return "cannot collect the sweep: \(why)"
        }
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
