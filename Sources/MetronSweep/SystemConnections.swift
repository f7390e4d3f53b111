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

/// Connects systems to probe runners: starts (and later stops) the simulators they need, reads API
/// keys, calibrates prompt lengths once per server. Probes are planned by `probe` and drained by
/// `validity`'s grace, as the sweep sets them.
public actor SystemConnections {
    public let mode: MeasurementMode
    let probe: ProbeWindow
    let validity: ValidityRules
    /// Client processes that send every probe together; nil to send probes from this process.
    let fleet: ClientFleet?
    private let log: @Sendable (String) -> Void
    private var servers: [String: SimulatorServer] = [:]
    private var generators: [String: LoadGenerator] = [:]

    public init(probe: ProbeWindow = ProbeWindow(), validity: ValidityRules = ValidityRules(), mode: MeasurementMode,
                fleet: ClientFleet? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.probe = probe
        self.validity = validity
        self.mode = mode
        self.fleet = fleet
        self.log = log
    }

    public init(sweep: SweepFile, mode: MeasurementMode, fleet: ClientFleet? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.init(probe: sweep.probe, validity: sweep.validity, mode: mode, fleet: fleet, log: log)
    }

    /// Problems that stop a virtual-time measurement of `systems` before anything runs.
    public static func problems(systems: [SystemSpec], mode: MeasurementMode) -> [String] {
        guard mode == .virtual else { return [] }
        return systems.compactMap {
            if case .server = $0.kind {
                return "system '\($0.name)' is a server (url), and --simulate measures only simulator systems"
            }
            return nil
        }
    }

    /// A runner of probes (and prefill measurements) of `workload` on `system`.
    public func runner(system: SystemSpec, workload: WorkloadSpec) async throws -> any ProbeRunner & PrefillRunner {
        let planner = ProbePlanner(workload: workload, window: probe, minRequests: validity.minRequests)
        switch (mode, system.kind) {
        case let (.virtual, .simulator(config)):
            return VirtualProbeRunner(config: config, planner: planner, drainGraceS: validity.drainGraceS)
        case (.virtual, .server):
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
            var generator = try await connections.generator(system: system, options: options)
            // The simulator answers both APIs; a session's turns carry the conversation as chat messages.
            if planner.workload.sessions != nil, case .simulator = system.kind { generator.target.api = .chat }
            return LoadProbeRunner(
                generator: generator, planner: planner,
                serverMetrics: connections.probe.metricsScrape(for: generator.target),
                fleet: connections.fleet.map { fleet in
                    var named = fleet
                    named.log = { [log = connections.log, name = system.name] in log("\(name): \($0)") }
                    return named
                })
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
        switch system.kind {
        case let .simulator(config):
            let server = try await SimulatorServer.start(SimulatorServerOptions(simulator: config))
            servers[system.name] = server
            log("\(system.name): simulator (\(config.hardware.name), \(config.model.name), \(config.scheduler.kind.rawValue), tp \(config.tensorParallel)) at \(server.url)")
            target = ServerTarget(url: server.url, api: system.api, model: config.model.name)
        case let .server(server):
            target = try Self.target(server, system: system.name)
            shape = server.shape
        }
        try target.validate()
        var drained = options
        // Requests still open this long after the last send are cancelled and count as outstanding.
        drained.drainTimeout = options.drainTimeout ?? validity.drainGraceS
        let calibration = try PromptCalibration.measure(target: target, shape: shape, timeout: options.timeouts.total)
        log("\(system.name): prompt calibration by \(calibration.summary)")
        let generator = LoadGenerator(target: target, shape: shape, prompts: calibration.builder, options: drained)
        generators[system.name] = generator
        return generator
    }

    static func target(_ server: ServerSpec, system: String) throws -> ServerTarget {
        ServerTarget(url: server.url.absoluteString, api: server.api, model: server.model ?? "default",
                     apiKey: try apiKey(server, system: system))
    }

    /// The key from the named environment variable or file; never logged.
    static func apiKey(_ server: ServerSpec, system: String) throws -> String? {
        guard let source = server.apiKeySource else { return nil }
        do { return try source.read() } catch { throw SweepError.cannotMeasure(system: system, error.description) }
    }
}
