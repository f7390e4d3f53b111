import Foundation
import MetronModel
import MetronSearch
import MetronSweep

/// Counts the probes that reach the real runner.
public final class CountingRunner: ProbeRunner, @unchecked Sendable {
    public let inner: ScriptedProbeRunner
    private let lock = NSLock()
    private var _count = 0
    public var count: Int { lock.withLock { _count } }
    public init(_ inner: ScriptedProbeRunner) { self.inner = inner }
    public func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        lock.withLock { _count += 1 }
        return inner.measure(request)
    }
}

/// Collects lines from a callback.
public final class Reasons: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    public init() {}
    public func add(_ line: String) { lock.withLock { lines.append(line) } }
    public var all: [String] { lock.withLock { lines } }
}

/// TTFT grows linearly with the prompt: 10 ms + 20 us per token.
public struct LinearPrefill: PrefillRunner {
    public init() {}
    public func measure(promptTokens: Int, requests: Int) async throws -> [RequestRecord] {
        (0..<requests).map { i in
            let ttft = 0.01 + 2e-5 * Double(promptTokens)
            return RequestRecord(id: i, scheduledS: Double(i), sentS: Double(i), chunkTimesS: [Double(i) + ttft], chunkTokens: [1],
                                 requestedPromptTokens: promptTokens, promptTokens: promptTokens)
        }
    }
}

/// A runner that gives up after a number of probes, like a sweep killed halfway.
public final class DyingRunner: ProbeRunner, @unchecked Sendable {
    public let inner: ScriptedProbeRunner
    private let lock = NSLock()
    private var left: Int
    public init(_ inner: ScriptedProbeRunner, probes: Int) {
        self.inner = inner
        left = probes
    }
    public func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        let alive = lock.withLock { () -> Bool in left -= 1; return left >= 0 }
        guard alive else { throw CancellationError() }
        return inner.measure(request)
    }
}

/// What the runners of a sweep saw: which systems had a probe in flight together, and whether the first
/// probes of several systems met.
public final class SweepObserver: @unchecked Sendable {
    private let lock = NSLock()
    private var inFlight: [String: Int] = [:]
    private var arrived: Set<String> = []
    public private(set) var mostSystemsAtOnce = 0
    public let meeting: Int

    /// `meeting`: how many systems' first probes wait for one another (0: none wait).
    public init(meeting: Int = 0) { self.meeting = meeting }

    public var most: Int { lock.withLock { mostSystemsAtOnce } }
    public var met: Bool { lock.withLock { arrived.count >= meeting } }

    public func begin(_ system: String) -> Bool {
        lock.withLock {
            inFlight[system, default: 0] += 1
            mostSystemsAtOnce = max(mostSystemsAtOnce, inFlight.values.filter { $0 > 0 }.count)
            return arrived.insert(system).inserted
        }
    }

    public func end(_ system: String) { lock.withLock { inFlight[system, default: 0] -= 1 } }
}

/// A scripted system that reports what it does to an observer, and can make the client look strained
/// (timer lateness on every probe, requests failed in the client on the first) or stop after some probes.
public struct ObservedRunner: ProbeRunner {
    public var system: String
    public var inner: ScriptedProbeRunner
    public var observer: SweepObserver
    public var latenessS: Double?
    public var clientFaults: Int
    public var dieAfter: Int?
    public var probes = ProbeCount()

    public init(system: String, inner: ScriptedProbeRunner, observer: SweepObserver, latenessS: Double? = nil,
                clientFaults: Int = 0, dieAfter: Int? = nil) {
        self.system = system
        self.inner = inner
        self.observer = observer
        self.latenessS = latenessS
        self.clientFaults = clientFaults
        self.dieAfter = dieAfter
    }

    public final class ProbeCount: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        public func next() -> Int { lock.withLock { n += 1; return n } }
        public var value: Int { lock.withLock { n } }
    }

    public func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        let n = probes.next()
        if let dieAfter, n > dieAfter { throw CancellationError() }
        let first = observer.begin(system)
        defer { observer.end(system) }
        if first, observer.meeting > 0 {
            // Yields, not sleeps: gives the other systems' searches their turn, and gives up (the test
            // then fails on `met`) rather than waiting forever when they never come.
            for _ in 0..<200_000 where !observer.met { await Task.yield() }
        }
        var m = inner.measure(request)
        if let latenessS { m.timerLatenessS = Array(repeating: latenessS, count: 200) }
        for i in 0..<(n == 1 ? min(clientFaults, m.records.count) : 0) {
            m.records[i].status = .clientError
            m.records[i].error = "connection pool exhausted"
        }
        return m
    }
}

/// A scripted runner whose probes carry scrapes of a server that fills its KV cache, queues and preempts
/// as the rate nears its capacity, as vLLM does.
public struct ScrapedRunner: ProbeRunner {
    public let inner: ScriptedProbeRunner
    public let capacity: Double

    public init(inner: ScriptedProbeRunner, capacity: Double) {
        self.inner = inner
        self.capacity = capacity
    }

    public func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        var m = inner.measure(request)
        // Full near the P99 capacity of the scripted logistic, about 0.82 of its midpoint.
        let load = request.rate / (0.8 * capacity)
        m.serverMetrics = stride(from: 0.0, through: m.windowEndS + 1, by: 1).map { t in
            if t == 3 { return ServerMetricsSample(t: t, error: "GET http://127.0.0.1:1/metrics failed: Connection refused") }
            var s = ServerMetricsSample(t: t, samples: [])
            s.server = "vllm"
            s.kvCacheUsage = min(1, load * (0.5 + 0.5 * t / max(1, m.windowEndS)))
            s.running = (min(1, load) * 64).rounded()
            s.waiting = max(0, ((load - 0.9) * 10 * t).rounded())
            s.preemptionsTotal = max(0, ((load - 1) * 3 * t).rounded())
            // The TTFTs the server would have counted by now: the client's own, so the two agree exactly.
            let firstTokens = m.records.compactMap { r -> Double? in
                guard r.succeeded, let ttft = r.timeline.ttft, let sent = r.sentS, r.scheduledS + ttft <= t else { return nil }
                return r.scheduledS + ttft - sent
            }
            s.ttft = ServerHistogram.bucketing(firstTokens, bounds: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1])
            return s
        }
        return m
    }
}

extension SystemSpec {
    public static func named(_ name: String) -> SystemSpec {
        SystemSpec(name: name, kind: .server(ServerSpec(url: URL(string: "http://localhost")!)), gpus: 1)
    }
}
