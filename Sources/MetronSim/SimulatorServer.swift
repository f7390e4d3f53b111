import MetronSimModel
import NIOCore
import NIOHTTP1
import NIOPosix

/// How to run the simulated server.
public struct SimulatorServerOptions: Sendable {
    public var simulator: SimulatorConfig
    public var host: String
    /// 0 picks a free port.
    public var port: Int
    /// Where to write `request_id,emission_time_s` for every token; nil for no log.
    public var truthLogPath: String?
    public var faults: FaultConfig
    /// The name clients must use in `model`; the model profile's name by default.
    public var servedModelName: String

    public init(
        simulator: SimulatorConfig, host: String = "127.0.0.1", port: Int = 0, truthLogPath: String? = nil,
        faults: FaultConfig = .none, servedModelName: String? = nil
    ) {
        self.simulator = simulator
        self.host = host
        self.port = port
        self.truthLogPath = truthLogPath
        self.faults = faults
        self.servedModelName = servedModelName ?? simulator.model.name
    }

    /// Every problem of the options, together.
    public func problems() -> [String] {
        var out: [String] = []
        do { _ = try simulator.costModel() } catch let SimulatorConfigError.invalid(problems) {
            out += problems
        } catch { out.append("\(error)") }
        out += faults.problems()
        if !(0...65535).contains(port) { out.append("port must be in 0...65535, got \(port)") }
        if host.isEmpty { out.append("host is empty") }
        if servedModelName.isEmpty { out.append("served model name is empty") }
        return out
    }
}

public enum SimulatorServerError: Error, CustomStringConvertible {
    case invalid([String])
    case cannotWrite(String)

    public var description: String {
        switch self {
        case let .invalid(problems): return problems.joined(separator: "; ")
        case let .cannotWrite(path): return "cannot write \(path)"
        }
    }
}

/// The simulated LLM server, started in-process. All connections and the engine share one event-loop
/// thread, so the engine needs no locks and its timing is one thread's.
public final class SimulatorServer: Sendable {
    /// `http://HOST:PORT`, with the port actually bound.
    public let url: String
    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let driver: NIOLoopBound<ServingEngineDriver>

    private init(
        url: String, port: Int, group: MultiThreadedEventLoopGroup, channel: any Channel,
        driver: NIOLoopBound<ServingEngineDriver>
    ) {
        self.url = url
        self.port = port
        self.group = group
        self.channel = channel
        self.driver = driver
    }

    /// Starts a server; with port 0 the system picks a free port (see `url`).
    public static func start(_ options: SimulatorServerOptions) async throws -> SimulatorServer {
        let problems = options.problems()
        guard problems.isEmpty else { throw SimulatorServerError.invalid(problems) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let loop = group.next()
            let driver = try await loop.submit {
                NIOLoopBound(try ServingEngineDriver(options: options, loop: loop), eventLoop: loop)
            }.get()
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(SimHTTPHandler(driver: driver.value))
                    }
                }
                .bind(host: options.host, port: options.port).get()
            let port = channel.localAddress?.port ?? options.port
            let host = options.host.contains(":") ? "[\(options.host)]" : options.host
            return SimulatorServer(
                url: "http://\(host):\(port)", port: port, group: group, channel: channel, driver: driver)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// The engine's counters now.
    public func statistics() async throws -> ServingEngineStats {
        let driver = self.driver
        return try await channel.eventLoop.submit { driver.value.engine.statistics }.get()
    }

    /// Stops accepting, writes out the truth log and closes every connection.
    public func stop() async throws {
        let driver = self.driver
        try? await channel.close()
        try await channel.eventLoop.submit { driver.value.shutdown() }.get()
        try await group.shutdownGracefully()
    }
}
