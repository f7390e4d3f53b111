import Foundation
import MetronSearch
import MetronModel
import MetronLoad
import MetronSim
import MetronSimModel

/// How a sweep's probes are measured.
public enum MeasurementMode: Sendable, Equatable {
    /// Over HTTP with the load generator: real servers, and the built-in simulator started on a free
    /// local port for each simulated system.
    case http(LoadOptions)
    /// The simulator's serving model in virtual time (simulated systems only).
    case virtual
}

/// Connects a sweep's systems to probe runners: starts (and later stops) the simulators it needs,
/// reads API keys, calibrates prompt lengths once per server.
public actor SystemConnections {
    public let sweep: SweepFile
    public let mode: MeasurementMode
    private let log: @Sendable (String) -> Void
    private var servers: [String: SimulatorServer] = [:]
    private var generators: [String: LoadGenerator] = [:]

    public init(sweep: SweepFile, mode: MeasurementMode, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.sweep = sweep
        self.mode = mode
        self.log = log
    }

    /// Problems that stop a virtual-time sweep before anything runs.
    public static func problems(sweep: SweepFile, mode: MeasurementMode) -> [String] {
        guard mode == .virtual else { return [] }
        return sweep.systems.compactMap {
            if case .endpoint = $0.target {
                return "system '\($0.name)' is a server (url), and --simulate measures only simulator systems"
            }
            return nil
        }
    }

    /// A runner of probes (and prefill measurements) of `workload` on `system`.
    public func runner(system: SystemSpec, workload: WorkloadSpec) async throws -> any ProbeRunner & PrefillRunner {
        let planner = ProbePlanner(workload: workload, window: sweep.probe, minRequests: sweep.validity.minRequests)
        switch (mode, system.target) {
        case let (.virtual, .simulator(spec)):
            return VirtualProbeRunner(config: spec.config, planner: planner, drainGraceS: sweep.validity.drainGraceS)
        case (.virtual, .endpoint):
            throw SweepError.cannotMeasure(system: system.name, "a server cannot be measured in virtual time")
        case let (.http(options), _):
            return ConnectingProbeRunner(connections: self, system: system, options: options, planner: planner)
        }
    }

    /// Connects on the first probe that is not cached, so a rerun of a finished sweep starts nothing.
    struct ConnectingProbeRunner: ProbeRunner, PrefillRunner {
        let connections: SystemConnections
        let system: SystemSpec
        let options: LoadOptions
        let planner: ProbePlanner

        func connected() async throws -> LoadProbeRunner {
            let generator = try await connections.generator(system: system, options: options)
            return LoadProbeRunner(
                generator: generator, planner: planner,
                serverMetrics: connections.sweep.probe.metricsScrape(for: generator.target))
        }

        func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement { try await connected().probe(request) }

        func measure(promptTokens: Int, requests: Int) async throws -> [RequestRecord] {
            try await connected().measure(promptTokens: promptTokens, requests: requests)
        }
    }

    /// Stops every simulator this sweep started.
    public func shutdown() async {
        for (name, server) in servers {
            do { try await server.stop() } catch { log("\(name): stopping the simulator: \(error)") }
        }
        servers.removeAll()
    }

    private func generator(system: SystemSpec, options: LoadOptions) async throws -> LoadGenerator {
        if let ready = generators[system.name] { return ready }
        let target: ServerTarget
        var shape = RequestShape(ignoreEOS: true)
        switch system.target {
        case let .simulator(spec):
            let server = try await SimulatorServer.start(SimulatorServerOptions(simulator: spec.config))
            servers[system.name] = server
            log("\(system.name): simulator (\(spec.hardware), \(spec.model), \(spec.scheduler), tp \(spec.tensorParallel)) at \(server.url)")
            target = ServerTarget(url: server.url, model: spec.config.model.name)
        case let .endpoint(endpoint):
            target = try Self.target(endpoint, system: system.name)
            shape = endpoint.shape
        }
        try target.validate()
        var drained = options
        // Requests still open this long after the last send are cancelled and count as outstanding.
        drained.drainTimeout = options.drainTimeout ?? sweep.validity.drainGraceS
        let calibration = try PromptCalibration.measure(target: target, shape: shape, timeout: options.timeouts.total)
        log("\(system.name): prompt calibration by \(calibration.summary)")
        let generator = LoadGenerator(target: target, shape: shape, prompts: calibration.builder, options: drained)
        generators[system.name] = generator
        return generator
    }

    static func target(_ endpoint: Endpoint, system: String) throws -> ServerTarget {
        ServerTarget(url: endpoint.url.absoluteString, api: endpoint.api, model: endpoint.model ?? "default",
                     apiKey: try apiKey(endpoint, system: system))
    }

    /// The key from the named environment variable or file; never logged.
    static func apiKey(_ endpoint: Endpoint, system: String) throws -> String? {
        guard let source = endpoint.apiKeySource else { return nil }
        do { return try source.read() } catch { throw SweepError.cannotMeasure(system: system, error.description) }
    }
}
