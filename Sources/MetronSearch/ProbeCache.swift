import Foundation
import MetronCore
import MetronReport

/// Probe results on disk, one directory per probe named by its parameters (`rate-4.000/`), holding
/// `requests.jsonl` (raw records), `probe.json` (window and settings) and `summary.json`. Each
/// directory is filled under a temporary name and renamed into place, so a directory under its
/// final name is complete; a `complete` marker written last guards against anything else.
/// Verdicts are never stored as truth: they are recomputed from the records under the current SLO.
public struct ProbeCache: Sendable {
    public let directory: URL
    /// Describes everything besides rate and attempt that shapes a probe (system, workload, window
    /// length, seed...). A cached probe with another fingerprint is measured again.
    public let fingerprint: String

    public static let recordsFile = RecordsFile.name
    public static let metadataFile = "probe.json"
    public static let summaryFile = "summary.json"
    public static let completeMarker = "complete"

    public init(directory: URL, fingerprint: String) {
        self.directory = directory
        self.fingerprint = fingerprint
    }

    /// What `probe.json` holds.
    struct Metadata: Codable {
        var fingerprint: String
        var rate: Double
        var attempt: Int
        var requests: Int
        var windowStartS: Double
        var windowEndS: Double
        var timerLatenessS: [Double]?
        var maxInFlight: Int?
        var simulated: Bool

        enum CodingKeys: String, CodingKey {
            case fingerprint, rate, attempt, requests, simulated
            case windowStartS = "window_start_s", windowEndS = "window_end_s", timerLatenessS = "timer_lateness_s"
            case maxInFlight = "max_in_flight"
        }
    }

    public func url(for request: ProbeRequest) -> URL {
        directory.appendingPathComponent(request.directoryName, isDirectory: true)
    }

    /// The cached measurement, or nil when absent, incomplete, unreadable or of another fingerprint.
    public func load(_ request: ProbeRequest) -> ProbeMeasurement? {
        let dir = url(for: request)
        let fm = FileManager.default
        guard fm.fileExists(atPath: dir.appendingPathComponent(Self.completeMarker).path),
              let meta = try? JSON.decode(Metadata.self, from: dir.appendingPathComponent(Self.metadataFile)),
              meta.fingerprint == fingerprint, meta.rate == request.rate, meta.attempt == request.attempt,
              let records = try? RecordsFile.read(dir.appendingPathComponent(Self.recordsFile)),
              records.count == meta.requests
        else { return nil }
        return ProbeMeasurement(
            request: request, records: records, windowStartS: meta.windowStartS, windowEndS: meta.windowEndS,
            timerLatenessS: meta.timerLatenessS, maxInFlight: meta.maxInFlight, simulated: meta.simulated)
    }

    /// Where an interrupted probe's partial measurement goes: beside the probe, never loaded.
    public func incompleteURL(for request: ProbeRequest) -> URL {
        directory.appendingPathComponent(request.directoryName + ".incomplete", isDirectory: true)
    }

    /// Stores a measurement, replacing any earlier directory of the same probe. `summary` is written for
    /// people and plots; it is not read back.
    public func store(_ m: ProbeMeasurement, summary: RunSummary) throws {
        try write(m, summary: summary, to: url(for: m.request), complete: true)
    }

    /// Keeps what an interrupted probe measured, under `incompleteURL(for:)` and without the
    /// `complete` marker, so that it is never reused as a finished probe.
    public func storeIncomplete(_ m: ProbeMeasurement, summary: RunSummary) throws {
        try write(m, summary: summary, to: incompleteURL(for: m.request), complete: false)
    }

    private func write(_ m: ProbeMeasurement, summary: RunSummary, to destination: URL, complete: Bool) throws {
        let meta = Metadata(
            fingerprint: fingerprint, rate: m.request.rate, attempt: m.request.attempt, requests: m.records.count,
            windowStartS: m.windowStartS, windowEndS: m.windowEndS, timerLatenessS: m.timerLatenessS,
            maxInFlight: m.maxInFlight, simulated: m.simulated)
        try AtomicWrite.directory(at: destination) { tmp in
            try RecordsFile.encode(m.records).write(to: tmp.appendingPathComponent(Self.recordsFile))
            try JSON.encode(meta).write(to: tmp.appendingPathComponent(Self.metadataFile))
            try JSON.encode(summary).write(to: tmp.appendingPathComponent(Self.summaryFile))
            if complete { try Data().write(to: tmp.appendingPathComponent(Self.completeMarker)) }
        }
    }
}

/// The run was interrupted during a probe; what it measured is kept in `directory`.
public struct ProbeInterrupted: Error, CustomStringConvertible {
    public var directory: URL
    public var description: String {
        "interrupted: the probe in progress was kept in \(directory.path) (marked incomplete, never reused)"
    }
}

/// A probe runner that answers from a `ProbeCache` when it can and stores what it measures.
public struct CachingProbeRunner: ProbeRunner {
    public let inner: any ProbeRunner
    public let cache: ProbeCache
    /// Deadlines for the human-readable `summary.json`.
    public let deadlines: DeadlineSpec
    /// Called with each request answered from the cache.
    public let onHit: @Sendable (ProbeRequest) -> Void

    public init(inner: any ProbeRunner, cache: ProbeCache, deadlines: DeadlineSpec,
                onHit: @escaping @Sendable (ProbeRequest) -> Void = { _ in }) {
        self.inner = inner
        self.cache = cache
        self.deadlines = deadlines
        self.onHit = onHit
    }

    public func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        if let cached = cache.load(request) {
            onHit(request)
            return cached
        }
        let m = try await inner.probe(request)
        // A probe against a server that was down says nothing about the server: measure it again next time.
        if m.serverUnreachable { return m }
        let summary = RunSummary(
            records: m.windowRecords, targetRate: request.rate, deadlines: deadlines, timerLateness: m.timerLatenessS,
            maxInFlight: m.maxInFlight)
        if Task.isCancelled {
            try cache.storeIncomplete(m, summary: summary)
            throw ProbeInterrupted(directory: cache.incompleteURL(for: request))
        }
        try cache.store(m, summary: summary)
        return m
    }
}
