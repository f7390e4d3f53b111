import Foundation
import MetronLoad
import MetronModel
import MetronReport

/// One open-loop load written to a run directory as it goes: its settings first, each record as it
/// finishes, then the summary and the server's view of the measurement window (`metron run`).
public struct RecordedRun: Sendable {
    public var generator: LoadGenerator
    public var plan: [PlannedRequest]
    /// Settings as known before the load; the clock's and the client's figures are added after it.
    public var settings: RunSettings
    public var directory: URL
    public var scrape: MetricsScrapeOptions?
    /// The measurement window on the run's clock (the warm-up before it is recorded, not summarised).
    public var windowStartS: Double
    public var windowEndS: Double

    public init(generator: LoadGenerator, plan: [PlannedRequest], settings: RunSettings, directory: URL,
                scrape: MetricsScrapeOptions?, windowStartS: Double, windowEndS: Double) {
        self.generator = generator
        self.plan = plan
        self.settings = settings
        self.directory = directory
        self.scrape = scrape
        self.windowStartS = windowStartS
        self.windowEndS = windowEndS
    }

    public struct Outcome: Sendable {
        public var summary: RunSummary
        /// What the server's metrics said, a line each, when they were scraped.
        public var serverLines: [String]
        /// Ctrl-C ended the run early; open and unsent requests are recorded as cancelled.
        public var interrupted: Bool
    }

    /// Records could not be written; the `written` before the failure are in the file.
    public struct RecordsFailure: Error {
        public var reason: String
        public var written: Int
    }

    /// Runs the load; `afterLoad` is called as soon as it ends (before the files are summarised).
    public func execute(
        progress: (@Sendable (LoadProgress) -> Void)?, log: @escaping @Sendable (String) -> Void, afterLoad: () -> Void = {}
    ) async throws -> Outcome {
        let startedDate = Date()
        var settings = self.settings
        settings.startedAt = ISO8601DateFormatter().string(from: startedDate)
        // Settings first and records as they finish: a run killed midway still has a readable directory.
        try RunDirectory.writeSettings(settings, to: directory)
        let records = try RecordsFileWriter(creating: RunDirectory.recordsURL(in: directory))
        let generator = self.generator, plan = self.plan, scrape = self.scrape
        let ((result, scrapes), interrupted) = try await cancellingOnInterrupt(
            message: "interrupted: ending the run, open requests are recorded as cancelled"
        ) {
            try await generator.run(plan: plan, scraping: scrape, onProgress: progress, onRecords: records.append)
        }
        records.close()
        afterLoad()
        if let warning = result.realtimeWarning { log("warning: \(warning)") }
        if let failure = records.failure {
            throw RecordsFailure(reason: "\(failure)", written: records.written)
        }
        settings.timerLatenessS = result.timerLateness
        settings.runStartMonotonicS = result.runStartMonotonic
        settings.shard?.runStartWallClockS = result.runStartWallClock
        settings.shard?.clockMaxErrorS = ClockSync.maxErrorS()
        settings.provenance = provenance(of: result, startedAt: startedDate)
        try RunDirectory.writeSettings(settings, to: directory)
        let summary = try settings.summary(ofRecordsIn: records.url, onWarning: { log("warning: \($0)") })
        try RunDirectory.writeSummary(summary, to: directory)
        let serverLines: [String] = try scrapes.map { scrapes -> [String] in
            var firstTokens: [ClientFirstToken] = []
            try RecordsFile.forEach(records.url) { if let token = ClientFirstToken($0) { firstTokens.append(token) } }
            return try writeServerView(scrapes, firstTokens: firstTokens, summary: summary)
        } ?? []
        return Outcome(summary: summary, serverLines: serverLines, interrupted: interrupted)
    }

    /// The run's provenance, with the engine's own timer lateness before the run and whether it got
    /// real-time priority; the server is asked about itself after the load, so as not to delay it.
    func provenance(of result: LoadResult, startedAt: Date) -> Provenance {
        let loadEnded = Date()
        let client = ClientSurvey.host(realtime: generator.options.realtime, granted: result.realtimeGranted)
        return invocationProvenance(
            startedAt: startedAt, client: client, timerLateness: result.calibrationLateness,
            servers: [ServerSurvey.describe(system: "server", target: generator.target)]
        ).ended(at: loadEnded)
    }

    /// Writes `server_metrics.jsonl`, adds the server's view of the measurement window (and its TTFT
    /// histogram against the client's) to `summary.json`, and returns lines for the terminal.
    func writeServerView(_ scrapes: [ServerMetricsSample], firstTokens: [ClientFirstToken], summary: RunSummary) throws -> [String] {
        try AtomicWrite.data(try ServerMetricsFile.encode(scrapes), to: directory.appendingPathComponent(ServerMetricsFile.name))
        let view = ServerView(samples: scrapes, windowStartS: windowStartS, windowEndS: windowEndS)
        let ttft = ServerTTFTComparison(firstTokens: firstTokens, samples: scrapes, windowStartS: windowStartS, windowEndS: windowEndS)
        try AtomicWrite.json(SummaryWithServerView(summary: summary, server: view, ttft: ttft),
                             to: directory.appendingPathComponent(RunDirectory.summaryFile))
        return [view?.sentence ?? "server: no scrape during the measurement window"]
            + (ttft.map { ["server TTFT against the client's: " + $0.sentence] } ?? [])
    }
}
