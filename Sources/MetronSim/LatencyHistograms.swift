import NIOCore

/// A Prometheus histogram the simulator exports, with vLLM's bucket bounds.
struct LatencyHistogram {
    let bounds: [Double]
    private(set) var counts: [Int]
    private(set) var count = 0
    private(set) var sum = 0.0

    init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ seconds: Double) {
        count += 1
        sum += seconds
        if let i = bounds.firstIndex(where: { seconds <= $0 }) { counts[i] += 1 }
    }

    /// `_bucket` (cumulative), `_sum` and `_count` lines under `name`, each with `labels` (`k="v"` pairs).
    func lines(_ name: String, labels: String) -> [String] {
        var out: [String] = []
        var running = 0
        for (bound, c) in zip(bounds, counts) {
            running += c
            out.append("\(name)_bucket{\(labels),le=\"\(bound)\"} \(running)")
        }
        out.append("\(name)_bucket{\(labels),le=\"+Inf\"} \(count)")
        out.append("\(name)_sum{\(labels)} \(sum)")
        out.append("\(name)_count{\(labels)} \(count)")
        return out
    }

    /// vLLM's bounds for time to first token and for inter-token latency, seconds.
    static let ttftBounds = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                             20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
    static let interTokenBounds = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                                   10.0, 20.0, 40.0, 80.0]
}

/// Server-side latencies as vLLM measures them: from the request's arrival at the engine to its first
/// token, and between its tokens, at the moment the engine hands them to the stream.
struct ServerLatencies {
    private(set) var ttft = LatencyHistogram(bounds: LatencyHistogram.ttftBounds)
    private(set) var interToken = LatencyHistogram(bounds: LatencyHistogram.interTokenBounds)
    private var arrived: [Int: NIODeadline] = [:]
    private var lastToken: [Int: NIODeadline] = [:]

    /// The first arrival noted for a request counts (the head's, before the engine's submit).
    mutating func arrival(_ request: Int, at time: NIODeadline) {
        if arrived[request] == nil { arrived[request] = time }
    }

    mutating func token(_ request: Int, index: Int, finished: Bool, at time: NIODeadline) {
        if index == 0, let start = arrived.removeValue(forKey: request) {
            ttft.observe(Double((time - start).nanoseconds) / 1e9)
        } else if let previous = lastToken[request] {
            interToken.observe(Double((time - previous).nanoseconds) / 1e9)
        }
        if finished { forget(request) } else { lastToken[request] = time }
    }

    mutating func forget(_ request: Int) {
        arrived[request] = nil
        lastToken[request] = nil
    }
}
