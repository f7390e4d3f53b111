import CLinux
import Foundation
import MetronModel
import Synchronization

/// Whether the engine thread runs at real-time (SCHED_FIFO) priority, which keeps its timestamps
/// from waiting behind other work on a busy client.
public enum RealtimeMode: String, Sendable, Codable, CaseIterable {
    /// Take it where the process is allowed it; elsewhere carry on quietly at normal priority.
    case auto
    /// Ask for it, and warn when it is refused.
    case on
    /// Stay at normal priority (to compare with a client that runs there).
    case off
}

/// How a run treats its requests, beyond the server and the plan.
public struct LoadOptions: Sendable, Equatable {
    public var timeouts: RequestTimeouts
    /// Requests in flight at most; nil (the default) is a true open loop.
    public var maxInFlight: Int?
    /// How long after the last request was sent open requests may still finish; nil means the
    /// total timeout plus a second, so each request's own timeout is what ends it.
    public var drainTimeout: Double?
    public var realtime: RealtimeMode
    /// Timer wake-ups measured before the run (1 ms each).
    public var calibrationWakeups: Int
    /// The run's time 0 as Unix seconds on the wall clock, so shards on several machines start
    /// together; nil (or a time already past) starts as soon as the engine is ready.
    public var startAt: Double?

    public init(
        timeouts: RequestTimeouts = RequestTimeouts(), maxInFlight: Int? = nil, drainTimeout: Double? = nil,
        realtime: RealtimeMode = .auto, calibrationWakeups: Int = 200, startAt: Double? = nil
    ) {
        self.timeouts = timeouts
        self.maxInFlight = maxInFlight
        self.drainTimeout = drainTimeout
        self.realtime = realtime
        self.calibrationWakeups = calibrationWakeups
        self.startAt = startAt
    }

    public func validate() throws {
        try timeouts.validate()
        if let cap = maxInFlight, cap < 1 {
            throw LoadConfigurationError("--max-in-flight must be at least 1, got \(cap)")
        }
        if let drain = drainTimeout, !(drain >= 0 && drain.isFinite) {
            throw LoadConfigurationError("--drain-timeout must be zero or more seconds, got \(drain)")
        }
        guard calibrationWakeups >= 0 else { throw LoadConfigurationError("calibration wake-ups must be >= 0") }
    }
}

/// What one run produced: exactly one record per planned request, and the client's health.
public struct LoadResult: Sendable {
    /// Sorted by request id; empty when the records went to `onRecords` instead.
    public var records: [RequestRecord]
    /// Timer lateness measured before the run, seconds.
    public var calibrationLateness: [Double]
    /// Lateness of every timer wake-up for a scheduled arrival during the run, seconds.
    public var runLateness: [Double]
    /// Whether the engine thread ran at real-time priority.
    public var realtimeGranted = false
    /// Set when real-time priority was asked for (`RealtimeMode.on`) and refused.
    public var realtimeWarning: String?
    /// CLOCK_MONOTONIC seconds of the run's time 0, to line records up with other clocks' logs.
    public var runStartMonotonic: Double = 0
    /// The run's time 0 on the wall clock, Unix seconds.
    public var runStartWallClock: Double = 0

    /// All timer-lateness samples, as `RunSummary` takes them.
    public var timerLateness: [Double] { calibrationLateness + runLateness }
}

/// The open-loop streaming load generator: sends every planned request at its scheduled time,
/// whatever the server does, and records each one.
public struct LoadGenerator: Sendable {
    public var target: ServerTarget
    public var shape: RequestShape
    public var prompts: PromptBuilder
    public var options: LoadOptions

    public init(target: ServerTarget, shape: RequestShape = RequestShape(), prompts: PromptBuilder = PromptBuilder(),
                options: LoadOptions = LoadOptions()) {
        self.target = target
        self.shape = shape
        self.prompts = prompts
        self.options = options
    }

    /// Runs one plan (arrival offsets in seconds from the run's start) and returns its records.
    /// With `onRecords`, the records are handed to it in batches as they finish (at least ten times a
    /// second, in the order they finished) and not kept, so memory does not grow with the run.
    /// Cancelling the task ends the run early; requests still open are recorded as `cancelled`.
    /// Throws only for configuration problems, never for failures of the server.
    public func run(
        plan: [PlannedRequest], onProgress: (@Sendable (LoadProgress) -> Void)? = nil,
        onRecords: (@Sendable ([RequestRecord]) -> Void)? = nil
    ) async throws -> LoadResult {
        try target.validate()
        try shape.validate()
        try options.validate()
        guard Set(plan.map(\.id)).count == plan.count else {
            throw LoadConfigurationError("the plan has duplicate request ids")
        }
        guard plan.allSatisfy({ $0.arrival >= 0 && $0.arrival.isFinite }) else {
            throw LoadConfigurationError("every planned arrival must be a finite offset >= 0 s")
        }
        let sessions = try SessionTurns(plan)
        if plan.contains(where: { $0.turn != nil }), target.api != .chat {
            throw LoadConfigurationError("sessions need the chat API (--api chat): each turn carries the conversation as chat messages")
        }
        MetronCurl.initialize()
        let builder = RequestBuilder(target: target, shape: shape)
        let prompts = prompts
        let makeBody: @Sendable (PlannedRequest, [ChatMessage]) throws -> (body: [UInt8], conversation: [ChatMessage]?) = { planned, history in
            let prompt = prompts.prompt(for: planned)
            guard planned.turn != nil else { return (try builder.body(prompt: prompt, maxTokens: planned.outputTokens), nil) }
            let conversation = history + [ChatMessage(role: "user", content: prompt)]
            return (try builder.body(messages: conversation, maxTokens: planned.outputTokens), conversation)
        }
        // One body now, so a shape that cannot be encoded fails here and not on every request.
        if let first = sessions.ordered.first { _ = try makeBody(first, []) }
        let job = LoadJob(
            plan: sessions.ordered, scheduledCount: sessions.scheduledCount, nextTurn: sessions.nextTurn, makeBody: makeBody,
            endpoint: target.endpointURL, headers: target.requestHeaders,
            insecure: target.insecure, timeouts: options.timeouts, maxInFlight: options.maxInFlight,
            drainTimeout: options.drainTimeout ?? options.timeouts.total + 1, realtime: options.realtime,
            calibrationWakeups: options.calibrationWakeups, startAt: options.startAt)

        let wake = try WakeSignal()
        defer { wake.close() }
        let wakeFD = wake.fd
        let (events, continuation) = AsyncStream<LoadEvent>.makeStream(bufferingPolicy: .unbounded)
        let thread = Thread { LoadEngine.run(job: job, wakeFD: wakeFD, out: continuation) }
        thread.name = "metron-engine"
        thread.start()

        // The events are collected by a task of their own: iterating an AsyncStream ends when the
        // iterating task is cancelled, and a cancelled run must still deliver every record.
        let collector = Task.detached { () -> (LoadResult, String?, Int) in
            var result = LoadResult(records: [], calibrationLateness: [], runLateness: [])
            if onRecords == nil { result.records.reserveCapacity(plan.count) }
            var delivered = 0
            var failure: String?
            for await event in events {
                switch event {
                case let .started(lateness, granted, warning, runStart, wallClock):
                    result.calibrationLateness = lateness
                    result.realtimeGranted = granted
                    result.realtimeWarning = warning
                    result.runStartMonotonic = runStart
                    result.runStartWallClock = wallClock
                case let .records(batch):
                    delivered += batch.count
                    if let onRecords { onRecords(batch) } else { result.records.append(contentsOf: batch) }
                case let .progress(progress): onProgress?(progress)
                case let .finished(lateness): result.runLateness = lateness
                case let .failed(message): failure = message
                }
            }
            return (result, failure, delivered)
        }
        var (result, failure, delivered) = await withTaskCancellationHandler {
            await collector.value
        } onCancel: {
            wake.signal()
        }
        if let failure { throw LoadConfigurationError("the load engine could not start: \(failure)") }
        result.records.sort { $0.id < $1.id }
        guard delivered == plan.count, onRecords != nil || result.records.map(\.id) == plan.map(\.id).sorted() else {
            throw LoadConfigurationError("internal error: \(delivered) records for \(plan.count) planned requests")
        }
        return result
    }
}

/// A plan laid out for the engine: the requests with a planned send time first, in send order, then
/// the turns that follow an answer, each reachable from the turn before it.
struct SessionTurns {
    var ordered: [PlannedRequest]
    var scheduledCount: Int
    var nextTurn: [Int: Int]

    init(_ plan: [PlannedRequest]) throws {
        let scheduled = plan.enumerated().filter { !$0.element.followsAnswer }
            .sorted { ($0.element.arrival, $0.offset) < ($1.element.arrival, $1.offset) }.map(\.element)
        ordered = scheduled + plan.filter(\.followsAnswer)
        scheduledCount = scheduled.count
        nextTurn = try ordered.nextTurnPositions()
    }
}

/// The eventfd that asks the engine thread to stop. Signalling and closing are serialised, so a late
/// cancellation can never write to a descriptor number that has been closed and reused.
final class WakeSignal: Sendable {
    let fd: Int32
    private let open = Mutex(true)

    init() throws {
        fd = eventfd(0, Int32(EFD_CLOEXEC))
        try check(fd, "eventfd", .raise)
    }

    func signal() {
        open.withLock { isOpen in
            guard isOpen else { return }
            var one: UInt64 = 1
            check(write(fd, &one, 8), "write(eventfd)", .log("the run goes on to its planned end"))
        }
    }

    func close() {
        open.withLock { isOpen in
            guard isOpen else { return }
            isOpen = false
            closeLogged(fd, "close(eventfd)")
        }
    }
}
