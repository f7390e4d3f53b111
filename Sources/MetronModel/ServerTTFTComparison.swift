import Foundation
import MetronStats

/// The server's TTFT histogram against the client's TTFTs over the same stretch of the run: the
/// histogram's increase between two scrapes, and the client's requests whose first token arrived
/// between them, counted into the same buckets so that both quantiles carry the same interpolation.
/// The client's TTFT is taken from the moment it sent the request (its own queueing, the lag, is
/// reported elsewhere), which is what the server can see.
public struct ServerTTFTComparison: Sendable, Equatable, Codable {
    /// The scrapes the comparison runs between, on the run's clock.
    public var fromS: Double
    public var toS: Double
    public var serverRequests: Double
    public var clientRequests: Int
    public var quantiles: [Double]
    public var serverS: [Double]
    public var clientS: [Double]
    /// Server minus client, per quantile.
    public var offsetS: [Double]
    /// How far apart the two may be from measurement error alone, per quantile: the client's timestamp
    /// error, plus how far the quantile moves inside its bucket when the requests that one side counts
    /// and the other does not, and the client's TTFTs within that error of the bucket's edges (which
    /// the two clocks may put on different sides), change sides.
    public var toleranceS: [Double]
    /// The client's quantiles from its exact TTFTs, for reference.
    public var clientExactS: [Double]

    /// The error of the load generator's chunk timestamps against a server's own clock: 5 ms covers the
    /// P99 of every configuration measured at normal priority (docs/BENCHMARKS.md, up to 4.4 ms).
    public static let clientTimestampErrorS = 0.005
    public static let defaultQuantiles = [0.5, 0.9]

    enum CodingKeys: String, CodingKey {
        case quantiles
        case fromS = "from_s", toS = "to_s", serverRequests = "server_requests", clientRequests = "client_requests"
        case serverS = "server_s", clientS = "client_s", offsetS = "offset_s", toleranceS = "tolerance_s"
        case clientExactS = "client_exact_s"
    }

    public var withinTolerance: Bool { zip(offsetS, toleranceS).allSatisfy { abs($0) <= $1 } }

    /// nil when the server exports no TTFT histogram, fewer than two scrapes have one, or either side
    /// saw no request between them.
    public init?(records: [RequestRecord], samples: [ServerMetricsSample], windowStartS: Double, windowEndS: Double,
                 quantiles: [Double] = defaultQuantiles) {
        self.init(firstTokens: records.compactMap(ClientFirstToken.init), samples: samples, windowStartS: windowStartS,
                  windowEndS: windowEndS, quantiles: quantiles)
    }

    /// The same from the first tokens alone, which a run streamed to disk collects without holding its records.
    public init?(firstTokens: [ClientFirstToken], samples: [ServerMetricsSample], windowStartS: Double, windowEndS: Double,
                 quantiles: [Double] = defaultQuantiles) {
        let scraped = samples.filter { $0.error == nil && $0.ttft != nil }
        guard let first = scraped.last(where: { $0.t <= windowStartS }) ?? scraped.first,
              let last = scraped.first(where: { $0.t >= windowEndS }) ?? scraped.last,
              last.t > first.t, let delta = last.ttft!.since(first.ttft!), delta.count > 0
        else { return nil }
        let client = firstTokens.filter { $0.atS > first.t && $0.atS <= last.t }.map(\.sinceSendS)
        guard !client.isEmpty else { return nil }
        let bucketed = ServerHistogram.bucketing(client, bounds: delta.bounds)
        fromS = first.t
        toS = last.t
        serverRequests = delta.count
        clientRequests = client.count
        self.quantiles = quantiles
        serverS = quantiles.map { delta.quantile($0) ?? .nan }
        clientS = quantiles.map { bucketed.quantile($0) ?? .nan }
        offsetS = zip(serverS, clientS).map { $0 - $1 }
        let sorted = client.sorted()
        clientExactS = quantiles.map { Stats.quantile(sorted: sorted, $0) ?? .nan }
        let unmatched = abs(delta.count - Double(client.count))
        let error = Self.clientTimestampErrorS
        toleranceS = quantiles.map { q in
            guard let b = bucketed.bucket(containing: q), b.upper.isFinite else { return error }
            let nearEdges = client.filter { abs($0 - b.lower) <= error || abs($0 - b.upper) <= error }.count
            return error + (b.upper - b.lower) * min(1, (unmatched + Double(nearEdges) + 1) / max(1, b.inside))
        }
    }

    /// "server TTFT P50 0.123 s, client 0.124 s (offset -0.6 ms, allowed 5.4 ms); ..."
    public var sentence: String {
        zip(quantiles.indices, quantiles).map { i, q in
            String(format: "P%.0f server %.4f s, client %.4f s in the same buckets (offset %+.1f ms, allowed %.1f ms; exact %.4f s)",
                   q * 100, serverS[i], clientS[i], offsetS[i] * 1000, toleranceS[i] * 1000, clientExactS[i])
        }.joined(separator: "; ")
    }
}

/// A successful request's first token: when it came, on the run's clock, and how long after the send
/// (the span a server's TTFT histogram measures).
public struct ClientFirstToken: Sendable, Equatable {
    public var atS: Double
    public var sinceSendS: Double

    public init?(_ r: RequestRecord) {
        guard r.succeeded, let ttft = r.timeline.ttft, let sent = r.sentS else { return nil }
        atS = r.scheduledS + ttft
        sinceSendS = atS - sent
    }
}
