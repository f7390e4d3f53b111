import MetronModel
import MetronSearch

/// Lets at most `limit` holders run at once; among those waiting, the lowest `order` goes first (a
/// sweep gives its searches their places in the sweep, so that with a limit of 1 they run in that order).
/// The limit can be lowered while holders run: none of them is stopped, the lower limit only holds back
/// those let in afterwards.
public actor SearchGate {
    public private(set) var limit: Int
    /// Holders let in and not yet left, including those let in before they arrived.
    public private(set) var running = 0
    /// Requested and not let in yet, lowest first.
    private var queued: [Int] = []
    /// Let in before their holder arrived.
    private var admitted: Set<Int> = []
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]

    /// `limit` below 1 is taken as 1.
    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Requests not let in yet.
    public var waiting: Int { queued.count }

    /// Queues `order` without waiting, to hold its place before its holder arrives at `enter`.
    public func request(_ order: Int) {
        guard !queued.contains(order), !admitted.contains(order) else { return }
        queued.insert(order, at: queued.firstIndex { $0 > order } ?? queued.endIndex)
        admit()
    }

    /// Returns once `order` is let in; pair every call with `leave()`.
    public func enter(_ order: Int) async {
        request(order)
        if admitted.remove(order) != nil { return }
        await withCheckedContinuation { waiters[order] = $0 }
    }

    public func leave() {
        precondition(running > 0, "leave() without enter()")
        running -= 1
        admit()
    }

    /// Lowers the limit by one, never below 1: the new limit, or nil when it already was 1.
    @discardableResult
    public func lower() -> Int? {
        guard limit > 1 else { return nil }
        limit -= 1
        return limit
    }

    private func admit() {
        while running < limit, !queued.isEmpty {
            let next = queued.removeFirst()
            running += 1
            if let waiter = waiters.removeValue(forKey: next) { waiter.resume() } else { admitted.insert(next) }
        }
    }
}

/// Passes probes through, and lowers `gate` by one when the client that measured a probe was strained:
/// P99 send lag or timer lateness above half the lag threshold (well before it makes probes invalid),
/// or requests that failed in the client. Several searches share one client machine, and a strained
/// client would bias every one of them. Sits under the probe cache, so only probes measured now count.
struct ClientWatchingRunner: ProbeRunner {
    let inner: any ProbeRunner
    let label: String
    let lagThresholdS: Double
    let gate: SearchGate
    let progress: @Sendable (String) -> Void

    func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        let m = try await inner.probe(request)
        let check = ClientHealth(records: m.windowRecords, timerLatenessS: m.timerLatenessS, lagThresholdS: lagThresholdS)
        if let why = Self.strain(check), let limit = await gate.lower() {
            progress("\(label): \(why) at \(String(format: "%.3f", request.rate)) req/s: running at most \(limit) "
                     + "search\(limit == 1 ? "" : "es") at once")
        }
        return m
    }

    /// What strained the client, or nil when nothing did.
    static func strain(_ c: ClientHealth) -> String? {
        if c.failedRequests > 0 {
            return "\(c.failedRequests) request\(c.failedRequests == 1 ? "" : "s") failed in the client"
        }
        guard c.worstS > c.lagThresholdS / 2 else { return nil }
        return String(format: "client lag %.1f ms (threshold %.1f ms)", c.worstS * 1000, c.lagThresholdS * 1000)
    }
}
