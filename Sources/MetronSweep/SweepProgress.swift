import Foundation
import MetronModel
import MetronSearch
import Synchronization

/// Where a sweep stands, for a progress line: which search (or how many at once), how many probes, and
/// a rough time left.
public struct SweepProgress: Sendable, Equatable {
    /// 1-based number of the search running now (with several running, of the last one started).
    public var search: Int
    public var searches: Int
    /// The search running now (with several running, the one heard from last).
    public var label: String
    /// Probes finished in the running searches, and at most how many one search may run.
    public var probes: Int
    public var probeLimit: Int
    /// Probes finished in the searches that have finished.
    public var probesBefore: Int
    public var finishedSearches: Int
    /// Seconds since the sweep started, when this was measured.
    public var elapsedS: Double
    /// Searches running at once.
    public var running: Int

    public init(search: Int, searches: Int, label: String, probes: Int, probeLimit: Int, probesBefore: Int,
                finishedSearches: Int, elapsedS: Double, running: Int = 1) {
        self.search = search
        self.searches = searches
        self.label = label
        self.probes = probes
        self.probeLimit = probeLimit
        self.probesBefore = probesBefore
        self.finishedSearches = finishedSearches
        self.elapsedS = elapsedS
        self.running = running
    }

    /// Seconds left: the time per probe so far times the probes still expected. A finished search's
    /// probe count predicts the next ones (searches usually stop before their budget); before any has
    /// finished, the budget does. Running searches are taken as alike, each with its share of `probes`.
    /// The time per probe already reflects how many searches run at once. Nil until a probe has finished.
    public var remainingS: Double? {
        let done = probesBefore + probes
        guard done > 0, elapsedS > 0 else { return nil }
        let perSearch = finishedSearches > 0 ? Double(probesBefore) / Double(finishedSearches) : Double(probeLimit)
        let running = max(1, self.running)
        let each = Double(probes) / Double(running)
        let thisOne = max(0, max(perSearch, each + 1) - each)
        let notStarted = max(0, searches - finishedSearches - running)
        let expected = Double(running) * min(Double(probeLimit) - each, thisOne) + Double(notStarted) * perSearch
        return elapsedS / Double(done) * max(0, expected)
    }

    /// "search 2/4 h100-vllm/chat/p99: probe 5 of at most 12, 3m10s elapsed, about 4m00s left", or with
    /// several searches at once "3 of 4 searches running, 1 finished, 9 probes done, ...", as of
    /// `waited` seconds after this was measured: the elapsed time moves on, the time left counts down.
    public func line(after waited: Double = 0) -> String {
        let left = remainingS.map { ", about \(Self.duration(max(0, $0 - waited))) left" } ?? ""
        let elapsed = "\(Self.duration(elapsedS + waited)) elapsed\(left)"
        if running > 1 {
            let finished = finishedSearches > 0 ? "\(finishedSearches) finished, " : ""
            return "\(running) of \(searches) searches running, \(finished)\(probesBefore + probes) probes done, \(elapsed)"
        }
        let probe = probes < probeLimit ? "probe \(probes + 1) of at most \(probeLimit)" : "\(probes) probes done"
        return "search \(search)/\(searches) \(label): \(probe), \(elapsed)"
    }

    public static func duration(_ s: Double) -> String {
        let total = Int(s.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
        return "\(total / 3600)h\(String(format: "%02d", total / 60 % 60))m"
    }
}

/// The standing of a sweep whose searches may run at once, updated from their tasks.
final class SweepStanding: Sendable {
    private struct State {
        var progress: SweepProgress
        var started = 0
        /// Label and probes so far of each running search, by number.
        var running: [Int: (label: String, probes: Int)] = [:]
    }
    private let state: Mutex<State>

    init(_ initial: SweepProgress) { state = Mutex(State(progress: initial)) }

    /// Counts a search in; returns its 1-based number.
    func start(_ label: String, elapsedS: Double) -> Int {
        state.withLock { s in
            s.started += 1
            s.running[s.started] = (label, 0)
            s.progress.search = s.started
            s.progress.label = label
            s.progress.elapsedS = elapsedS
            return s.started
        }
    }

    /// Reports a probe finished by search `number` to `status`, under the lock, so that concurrent
    /// searches never show an older standing after a newer one.
    func probed(_ number: Int, elapsedS: Double, status: (SweepProgress) -> Void) {
        state.withLock { s in
            s.running[number]?.probes += 1
            if let label = s.running[number]?.label { s.progress.label = label }
            s.progress.elapsedS = elapsedS
            status(Self.snapshot(s))
        }
    }

    /// Reports the standing to `status`, under the lock.
    func report(status: (SweepProgress) -> Void) {
        state.withLock { s in status(Self.snapshot(s)) }
    }

    /// Counts search `number` out, with the probes it ran.
    func finish(_ number: Int, probes: Int) {
        state.withLock { s in
            guard s.running.removeValue(forKey: number) != nil else { return }
            s.progress.probesBefore += probes
            s.progress.finishedSearches += 1
        }
    }

    /// With one search running, that search's own line; with several, the sum over them.
    private static func snapshot(_ s: State) -> SweepProgress {
        var p = s.progress
        p.running = s.running.count
        if s.running.count == 1, let (number, only) = s.running.first.map({ ($0.key, $0.value) }) {
            p.search = number
            p.label = only.label
            p.probes = only.probes
        } else {
            p.probes = s.running.values.reduce(0) { $0 + $1.probes }
        }
        return p
    }
}

/// Set once, read from any task.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
