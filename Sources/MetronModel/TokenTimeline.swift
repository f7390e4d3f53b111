/// The per-token view of one request (METRICS.md section 2): chunk `c` arriving at `t_c` with `k_c`
/// tokens delivers all its tokens at `t_c`.
public struct TokenTimeline: Sendable, Equatable {
    public let arrival: Double
    public let chunkTimes: [Double]
    public let chunkTokens: [Int]

    public init(arrival: Double, chunkTimes: [Double], chunkTokens: [Int]) {
        precondition(chunkTimes.count == chunkTokens.count, "one token count per chunk")
        self.arrival = arrival
        self.chunkTimes = chunkTimes
        self.chunkTokens = chunkTokens
    }

    /// N, the number of output tokens.
    public var tokenCount: Int { chunkTokens.reduce(0, +) }

    /// `x_0 = t_1 - a`, then the gap of each token to the previous one (0 inside a chunk).
    public var interTokenTimes: [Double] {
        var x: [Double] = []
        x.reserveCapacity(tokenCount)
        var previous = arrival
        for (t, k) in zip(chunkTimes, chunkTokens) where k > 0 {
            x.append(t - previous)
            for _ in 1..<k { x.append(0) }
            previous = t
        }
        return x
    }

    public var ttft: Double? { chunkTimes.first.map { $0 - arrival } }

    /// Token-level time between tokens: `x_1 ... x_{N-1}`, zeros included.
    public var tokenLevelTBT: [Double] { Array(interTokenTimes.dropFirst()) }

    /// Gaps between consecutive content chunks (no zeros).
    public var interChunkLatencies: [Double] {
        zip(chunkTimes.dropFirst(), chunkTimes).map { $0 - $1 }
    }

    /// `(t_K - t_1) / (N - 1)` for N >= 2.
    public var tpot: Double? {
        let n = tokenCount
        guard n >= 2, let first = chunkTimes.first, let last = chunkTimes.last else { return nil }
        return (last - first) / Double(n - 1)
    }

    public var endToEnd: Double? { chunkTimes.last.map { $0 - arrival } }

    public var normalizedLatency: Double? {
        let n = tokenCount
        guard n > 0, let e2e = endToEnd else { return nil }
        return e2e / Double(n)
    }

    /// N / end-to-end latency.
    public var outputThroughput: Double? {
        guard let e2e = endToEnd, e2e > 0 else { return nil }
        return Double(tokenCount) / e2e
    }
}
