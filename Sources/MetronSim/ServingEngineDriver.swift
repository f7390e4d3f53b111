import MetronModel
import MetronSimModel
import MetronStats
import NIOCore

/// Receives the tokens of one request as the engine produces them.
protocol TokenSink: AnyObject {
    /// `cachedPromptTokens`: the request's prompt tokens found in the prefix cache.
    func emit(index: Int, finished: Bool, cachedPromptTokens: Int)
}

/// Runs the serving engine on the wall clock: an iteration is planned, its modelled duration passes on
/// the event loop's timer, then its tokens go to their streams and the next iteration starts. Iterations
/// run back to back on the model's schedule (a late timer does not push later iterations back), so
/// real and virtual time agree up to timer noise. Confined to the server's single event loop.
final class ServingEngineDriver {
    let loop: any EventLoop
    let options: SimulatorServerOptions
    private(set) var engine: ServingEngine
    private(set) var latencies = ServerLatencies()
    private let random: RandomSource
    private let reasoning: ReasoningDraws
    private var truthLog: TruthLog?
    private var sinks: [Int: any TokenSink] = [:]
    private var nextNumber = 1
    private var inFlight: Scheduled<Void>?
    private var lastEnd: NIODeadline?
    private var stopped = false
    /// Beyond this lateness the schedule restarts from now rather than catching up in a burst.
    private static let maxCatchUp = TimeAmount.milliseconds(50)

    init(options: SimulatorServerOptions, loop: any EventLoop) throws {
        self.loop = loop
        self.options = options
        engine = try ServingEngine(config: options.simulator)
        random = RandomSource(seed: options.simulator.seed)
        reasoning = ReasoningDraws(options.simulator)
        truthLog = try options.truthLogPath.map { try TruthLog(path: $0) }
    }

    /// A fresh request number, unique for the server's life.
    func nextRequestNumber() -> Int {
        defer { nextNumber += 1 }
        return nextNumber
    }

    func drawFaults() -> FaultPlan { FaultPlan.draw(options.faults, random: random) }

    /// How many of a request's first output tokens are reasoning.
    func drawReasoningTokens(outputTokens: Int) -> Int { reasoning.next(outputTokens: outputTokens) }

    func rejection(promptTokens: Int, outputTokens: Int) -> Rejection? {
        engine.rejection(promptTokens: promptTokens, outputTokens: outputTokens)
    }

    /// Queues a request whose tokens go to `sink`.
    func submit(
        number: Int, promptTokens: Int, outputTokens: Int, blockHashes: [UInt64], sink: any TokenSink
    ) -> Rejection? {
        guard !stopped else { return .stopping }
        let request = ServingRequest(
            id: number, promptTokens: promptTokens, outputTokens: outputTokens, blockHashes: blockHashes)
        if let why = engine.submit(request) {
            return why
        }
        sinks[number] = sink
        latencies.arrival(number, at: .now())
        if inFlight == nil { runNextIteration() }
        return nil
    }

    /// When a request reached the server, for its TTFT; without it, the moment it is submitted.
    func noteArrival(_ number: Int, at time: NIODeadline) { latencies.arrival(number, at: time) }

    /// Forgets a request whose client went away or whose stream was cut.
    func cancel(number: Int) {
        guard sinks.removeValue(forKey: number) != nil else { return }
        latencies.forget(number)
        engine.cancel(requestID: number)
    }

    func resetPrefixCache() { engine.resetPrefixCache() }

    func recordEmission(_ requestID: String) {
        truthLog?.record(requestID, nanoseconds: monotonicNanoseconds())
    }

    /// Stops iterating and writes out the truth log.
    func shutdown() {
        stopped = true
        inFlight?.cancel()
        inFlight = nil
        truthLog?.close()
        truthLog = nil
    }

    private func runNextIteration() {
        guard !stopped, let iteration = engine.planIteration() else {
            inFlight = nil
            lastEnd = nil
            return
        }
        let now = NIODeadline.now()
        var start = now
        if let end = lastEnd, now - end < Self.maxCatchUp { start = end }
        let end = start + .nanoseconds(Int64((iteration.durationS * 1e9).rounded()))
        inFlight = loop.assumeIsolated().scheduleTask(deadline: end) { [self] in
            finish(iteration, end: end)
        }
    }

    private func finish(_ iteration: Iteration, end: NIODeadline) {
        let tokens = engine.complete(iteration)
        lastEnd = end
        let now = NIODeadline.now()
        for token in tokens {
            guard let sink = sinks[token.requestID] else { continue }
            latencies.token(token.requestID, index: token.index, finished: token.finished, at: now)
            if token.finished { sinks[token.requestID] = nil }
            sink.emit(index: token.index, finished: token.finished, cachedPromptTokens: token.cachedPromptTokens)
        }
        runNextIteration()
    }
}
