import Foundation
import Synchronization

/// Where a sweep stands, for a progress line: which search, how many probes, and a rough time left.
public struct SweepProgress: Sendable, Equatable {
    /// 1-based number of the search running now.
    public var search: Int
    public var searches: Int
    public var label: String
    /// Probes finished in this search and at most how many it may run.
    public var probes: Int
    public var probeLimit: Int
    /// Probes finished in the searches before this one.
    public var probesBefore: Int
    public var finishedSearches: Int
    /// Seconds since the sweep started, when this was measured.
    public var elapsedS: Double

    public init(search: Int, searches: Int, label: String, probes: Int, probeLimit: Int, probesBefore: Int,
                finishedSearches: Int, elapsedS: Double) {
        self.search = search
        self.searches = searches
        self.label = label
        self.probes = probes
        self.probeLimit = probeLimit
        self.probesBefore = probesBefore
        self.finishedSearches = finishedSearches
        self.elapsedS = elapsedS
    }

    /// Seconds left: the time per probe so far times the probes still expected. A finished search's
    /// probe count predicts the next ones (searches usually stop before their budget); before any has
    /// finished, the budget does. Nil until a probe has finished.
    public var remainingS: Double? {
        let done = probesBefore + probes
        guard done > 0, elapsedS > 0 else { return nil }
        let perSearch = finishedSearches > 0 ? Double(probesBefore) / Double(finishedSearches) : Double(probeLimit)
        let thisOne = max(0, max(perSearch, Double(probes + 1)) - Double(probes))
        let expected = min(Double(probeLimit - probes), thisOne) + Double(searches - search) * perSearch
        return elapsedS / Double(done) * max(0, expected)
    }

    /// "search 2/4 h100-vllm/chat/p99: probe 5 of at most 12, 3m10s elapsed, about 4m00s left", as of
    /// `waited` seconds after this was measured: the elapsed time moves on, the time left counts down.
    public func line(after waited: Double = 0) -> String {
        let left = remainingS.map { ", about \(Self.duration(max(0, $0 - waited))) left" } ?? ""
        let probe = probes < probeLimit ? "probe \(probes + 1) of at most \(probeLimit)" : "\(probes) probes done"
        return "search \(search)/\(searches) \(label): \(probe), \(Self.duration(elapsedS + waited)) elapsed\(left)"
    }

    public static func duration(_ s: Double) -> String {
        let total = Int(s.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
        return "\(total / 3600)h\(String(format: "%02d", total / 60 % 60))m"
    }
}

/// A count shared with a callback that may run on any thread.
final class Counter: Sendable {
    private let value = Mutex(0)
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
}
