import Foundation
import MetronSearch
import MetronModel
import MetronReport
import MetronVersion

/// Probe results on disk, one directory per probe named by its parameters (`rate-4.000/`), holding
/// `requests.jsonl` (raw records), `probe.json` (window and identity), `summary.json` and, when the
/// server's `/metrics` was scraped, `server_metrics.jsonl`. Each
/// directory is filled under a temporary name and renamed into place, so a directory under its
/// final name is complete; a `complete` marker written last guards against anything else.
/// Verdicts are never stored as truth: they are recomputed from the records under the current SLO.
public struct ProbeCache: Sendable {
    public let directory: URL
    /// Everything besides rate and attempt that shapes a probe. A stored probe of another identity
    /// is measured again; the one it replaces is kept beside it as `<probe>.superseded`.
    public let identity: ProbeIdentity

    public static let recordsFile = RecordsFile.name
    public static let metadataFile = "probe.json"
    public static let summaryFile = "summary.json"
    public static let serverMetricsFile = ServerMetricsFile.name
    public static let completeMarker = "complete"

    public init(directory: URL, identity: ProbeIdentity) {
        self.directory = directory
        self.identity = identity
    }

    /// What `probe.json` holds.
    struct Metadata: Codable {
        var identity: ProbeIdentity?
        var rate: Double
        var attempt: Int
        /// Absent (0) for a first measurement.
        var retry: Int?
        var requests: Int
        var windowStartS: Double
        var windowEndS: Double
        var timerLatenessS: [Double]?
        var maxInFlight: Int?
        var simulated: Bool
        /// The Metron that measured the probe (recorded, not part of the reuse rule).
        var metronVersion: String?

        enum CodingKeys: String, CodingKey {
            case identity, rate, attempt, retry, requests, simulated
            case windowStartS = "window_start_s", windowEndS = "window_end_s", timerLatenessS = "timer_lateness_s"
            case maxInFlight = "max_in_flight", metronVersion = "metron_version"
        }
    }

    /// A stored probe, or why there is none to reuse.
    public enum Lookup: Sendable, Equatable {
        case found(ProbeMeasurement)
        case absent
        /// A probe is stored but cannot be reused; the reason names what differs.
        case unusable(String)

        public var measurement: ProbeMeasurement? {
            if case let .found(m) = self { return m }
            return nil
        }
    }

    public func url(for request: ProbeRequest) -> URL {
        directory.appendingPathComponent(request.directoryName, isDirectory: true)
    }

    public func load(_ request: ProbeRequest) -> Lookup {
        let dir = url(for: request)
        let fm = FileManager.default
        guard fm.fileExists(atPath: dir.path) else { return .absent }
        guard fm.fileExists(atPath: dir.appendingPathComponent(Self.completeMarker).path) else {
            return .unusable("it is incomplete")
        }
        let meta: Metadata
        do { meta = try JSON.decode(Metadata.self, from: dir.appendingPathComponent(Self.metadataFile)) } catch {
            return .unusable("\(error)")
        }
        guard let stored = meta.identity else { return .unusable("it records no settings (an older record format)") }
        let changed = identity.differences(from: stored)
        guard changed.isEmpty else { return .unusable(changed.joined(separator: ", ")) }
        guard meta.rate == request.rate, meta.attempt == request.attempt, meta.retry ?? 0 == request.retry else {
            return .unusable("its probe.json is for rate \(meta.rate), attempt \(meta.attempt), retry \(meta.retry ?? 0)")
        }
        let records: [RequestRecord]
        do { records = try RecordsFile.read(dir.appendingPathComponent(Self.recordsFile)) } catch {
            return .unusable("\(error)")
        }
        guard records.count == meta.requests else {
            return .unusable("it holds \(records.count) records where probe.json says \(meta.requests)")
        }
        return .found(ProbeMeasurement(
            request: request, records: records, windowStartS: meta.windowStartS, windowEndS: meta.windowEndS,
            timerLatenessS: meta.timerLatenessS, maxInFlight: meta.maxInFlight, simulated: meta.simulated,
            serverMetrics: ServerMetricsFile.read(dir.appendingPathComponent(Self.serverMetricsFile))))
    }

    /// Where an interrupted probe's partial measurement goes: beside the probe, never loaded.
    public func incompleteURL(for request: ProbeRequest) -> URL {
        directory.appendingPathComponent(request.directoryName + ".incomplete", isDirectory: true)
    }

    /// Stores a measurement, replacing any earlier directory of the same probe. `summary` is written for
    /// people and plots; it is not read back.
    public func store(_ m: ProbeMeasurement, summary: RunSummary) throws {
        let destination = url(for: m.request)
        let fm = FileManager.default
        if fm.fileExists(atPath: destination.path) {
            let superseded = directory.appendingPathComponent(m.request.directoryName + ".superseded", isDirectory: true)
            if fm.fileExists(atPath: superseded.path) { try fm.removeItem(at: superseded) }
            try fm.moveItem(at: destination, to: superseded)
        }
        try write(m, summary: summary, to: destination, complete: true)
    }

    /// Keeps what an interrupted probe measured, under `incompleteURL(for:)` and without the
    /// `complete` marker, so that it is never reused as a finished probe.
    public func storeIncomplete(_ m: ProbeMeasurement, summary: RunSummary) throws {
        try write(m, summary: summary, to: incompleteURL(for: m.request), complete: false)
    }

    private func write(_ m: ProbeMeasurement, summary: RunSummary, to destination: URL, complete: Bool) throws {
        let meta = Metadata(
            identity: identity, rate: m.request.rate, attempt: m.request.attempt,
            retry: m.request.retry == 0 ? nil : m.request.retry, requests: m.records.count,
            windowStartS: m.windowStartS, windowEndS: m.windowEndS, timerLatenessS: m.timerLatenessS,
            maxInFlight: m.maxInFlight, simulated: m.simulated, metronVersion: MetronVersion.description)
        try AtomicWrite.directory(at: destination) { tmp in
            try RecordsFile.encode(m.records).write(to: tmp.appendingPathComponent(Self.recordsFile))
            try JSON.encode(meta).write(to: tmp.appendingPathComponent(Self.metadataFile))
            try JSON.encode(SummaryWithServerView(summary: summary, server: m.serverView, ttft: m.serverTTFTComparison))
                .write(to: tmp.appendingPathComponent(Self.summaryFile))
            if let scrapes = m.serverMetrics {
                try ServerMetricsFile.encode(scrapes).write(to: tmp.appendingPathComponent(Self.serverMetricsFile))
            }
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
    public let deadlines: FluidityDeadlines
    /// Called with each request answered from the cache.
    public let onHit: @Sendable (ProbeRequest) -> Void
    /// Called with each stored probe that cannot be reused, and why.
    public let onStale: @Sendable (ProbeRequest, String) -> Void

    public init(inner: any ProbeRunner, cache: ProbeCache, deadlines: FluidityDeadlines,
                onHit: @escaping @Sendable (ProbeRequest) -> Void = { _ in },
                onStale: @escaping @Sendable (ProbeRequest, String) -> Void = { _, _ in }) {
        self.inner = inner
        self.cache = cache
        self.deadlines = deadlines
        self.onHit = onHit
        self.onStale = onStale
    }

    public func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        switch cache.load(request) {
        case let .found(cached):
            onHit(request)
            return cached
        case let .unusable(why):
            onStale(request, why)
        case .absent:
            break
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
