import Foundation
import MetronSearch
import MetronModel
import MetronLoad
import MetronSimModel

/// How a probe's plan is laid out: warm-up, then a measurement window long enough for the SLO's
/// percentile. Shared by every runner so that the same probe means the same plan everywhere.
public struct ProbePlanner: Sendable, Equatable {
    public var workload: WorkloadSpec
    public var window: ProbeWindow
    public var minRequests: Int

    public init(workload: WorkloadSpec, window: ProbeWindow, minRequests: Int) {
        self.workload = workload
        self.window = window
        self.minRequests = minRequests
    }

    /// The plan of a probe and its measurement window on the run's clock.
    public func plan(_ request: ProbeRequest) throws -> (plan: [PlannedRequest], windowStartS: Double, windowEndS: Double) {
        var spec = workload
        spec.seed = seed(of: request)
        // Sized in requests: a session brings several.
        let requestRate = request.rate * workload.requestsPerArrival
        let end = window.warmupS + window.measurementS(rate: requestRate, minRequests: minRequests, bracketing: request.bracketing)
        return (try spec.plan(rate: request.rate, duration: end), window.warmupS, end)
    }

    /// The seed of a probe's plan.
    public func seed(of request: ProbeRequest) -> UInt64 {
        request.seed(workloadSeed: workload.seed, perRate: window.planPerRate)
    }
}

/// Probes a real server (or the simulator's HTTP front) with the open-loop load generator.
public struct LoadProbeRunner: ProbeRunner, PrefillRunner {
    public var generator: LoadGenerator
    public var planner: ProbePlanner
    /// The server's `/metrics` read during every probe; nil to leave it alone.
    public var serverMetrics: MetricsScrapeOptions?
    /// Client processes that send each probe together; nil to send it from this process.
    public var fleet: ClientFleet?

    public init(generator: LoadGenerator, planner: ProbePlanner, serverMetrics: MetricsScrapeOptions? = nil, fleet: ClientFleet? = nil) {
        self.generator = generator
        self.planner = planner
        self.serverMetrics = serverMetrics
        self.fleet = fleet
    }

    public func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        let (plan, start, end) = try planner.plan(request)
        if planner.window.resetPrefixCache == true,
           try !PrefixCacheReset.reset(target: generator.target, timeout: generator.options.timeouts.total) {
            throw PrefixCacheResetUnavailable(server: ServerTarget.withoutCredentials(generator.target.rootURL))
        }
        if let fleet {
            return try await fleet.probe(request, plan: plan, seed: planner.seed(of: request), windowStartS: start, windowEndS: end,
                                         generator: generator, scrape: serverMetrics)
        }
        let (result, scrapes) = try await generator.run(plan: plan, scraping: serverMetrics)
        return ProbeMeasurement(
            request: request, records: result.records, windowStartS: start, windowEndS: end,
            timerLatenessS: result.timerLateness, maxInFlight: generator.options.maxInFlight, serverMetrics: scrapes)
    }

    /// One request at a time: each is its own run, so none waits behind another.
    public func measure(promptTokens: Int, requests: Int) async throws -> [RequestRecord] {
        var records: [RequestRecord] = []
        var single = generator
        single.options.calibrationWakeups = 20
        for id in 0..<requests {
            let one = PlannedRequest(id: id, arrival: 0, promptTokens: promptTokens, outputTokens: 1)
            records += try await single.run(plan: [one]).records
        }
        return records
    }
}

/// `reset_prefix_cache` is set, but the server offers no way to do it.
public struct PrefixCacheResetUnavailable: Error, CustomStringConvertible {
    public var server: String
    public var description: String {
        "probe.reset_prefix_cache is set, but \(server) answers neither POST "
            + PrefixCacheReset.endpoints.joined(separator: " (vLLM) nor POST ") + " (SGLang); remove the setting to let probes share the cache"
    }
}

/// Probes the simulator's serving model in virtual time: a whole probe in milliseconds, for what-if
/// questions. Its results are marked as simulated everywhere.
public struct VirtualProbeRunner: ProbeRunner, PrefillRunner {
    public var config: SimulatorConfig
    public var planner: ProbePlanner
    /// Requests unfinished this long after the window are cut off, as the load generator's drain does.
    public var drainGraceS: Double

    public init(config: SimulatorConfig, planner: ProbePlanner, drainGraceS: Double) {
        self.config = config
        self.planner = planner
        self.drainGraceS = drainGraceS
    }

    public func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        let (plan, start, end) = try planner.plan(request)
        let records = try simulateInVirtualTime(plan, config: config, drainLimitS: end + drainGraceS)
        return ProbeMeasurement(
            request: request, records: records, windowStartS: start, windowEndS: end, simulated: true)
    }

    public func measure(promptTokens: Int, requests: Int) async throws -> [RequestRecord] {
        // An hour apart in virtual time: each request finds the server idle.
        let plan = (0..<requests).map {
            PlannedRequest(id: $0, arrival: Double($0) * 3600, promptTokens: promptTokens, outputTokens: 1)
        }
        return try simulateInVirtualTime(plan, config: config)
    }
}
