import CCurl
import CLinux
import Foundation
import MetronModel
import Synchronization

/// Where and how often the server's Prometheus `/metrics` is read during a run.
public struct MetricsScrapeOptions: Sendable, Equatable, Codable {
    public var url: String
    public var intervalS: Double
    /// A scrape that takes longer is recorded as failed.
    public var timeoutS: Double

    public init(url: String, intervalS: Double = 1, timeoutS: Double = 2) {
        self.url = url
        self.intervalS = intervalS
        self.timeoutS = timeoutS
    }

    enum CodingKeys: String, CodingKey { case url, intervalS = "interval_s", timeoutS = "timeout_s" }

    /// The default for a server: its base URL's origin and path without a trailing `/v1`, plus `/metrics`.
    public static func defaultURL(for target: ServerTarget) -> String {
        var base = target.url.hasSuffix("/") ? String(target.url.dropLast()) : target.url
        for suffix in ["/chat/completions", "/completions"] where base.hasSuffix(suffix) { base.removeLast(suffix.count) }
        if base.hasSuffix("/v1") { base.removeLast(3) }
        return base + "/metrics"
    }
}

/// Reads `/metrics` on a thread of its own with curl's easy interface, once per interval, from `start`
/// to `stop`. Scrapes never touch the load engine's thread, and a failed scrape is a sample with its
/// error, never a thrown error: the server's view is evidence, not a condition of the probe.
public final class MetricsScraper: Sendable {
    public let options: MetricsScrapeOptions
    private let headers: [String]
    private let insecure: Bool
    /// (CLOCK_MONOTONIC seconds, sample) pairs, in order.
    private let collected = Mutex<[(Double, ServerMetricsSample)]>([])
    private let stopping = Mutex(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// `headers` are sent with every scrape (an API key a proxy in front of the server may want).
    public init(options: MetricsScrapeOptions, headers: [String] = [], insecure: Bool = false) {
        self.options = options
        self.headers = headers
        self.insecure = insecure
    }

    public convenience init(options: MetricsScrapeOptions, target: ServerTarget) {
        self.init(options: options, headers: (target.apiKey.map { ["Authorization: Bearer \($0)"] } ?? []) + target.headers,
                  insecure: target.insecure)
    }

    public func start() {
        MetronCurl.initialize()
        let thread = Thread { [self] in loop() }
        thread.name = "metron-metrics"
        thread.start()
    }

    /// Stops after the scrape in progress and returns every sample, timed from `runStartMonotonic`.
    public func stop(runStartMonotonic: Double) -> [ServerMetricsSample] {
        stopping.withLock { $0 = true }
        wake.signal()
        done.wait()
        return collected.withLock { pairs in
            pairs.map { var s = $0.1; s.t = (($0.0 - runStartMonotonic) * 1e6).rounded() / 1e6; return s }
        }
    }

    /// One scrape now, on the calling thread (also what the loop does each interval).
    public func scrapeOnce() -> ServerMetricsSample {
        let easy = curl_easy_init()
        defer { if let easy { curl_easy_cleanup(easy) } }
        return scrape(easy)
    }

    private func loop() {
        let easy = curl_easy_init()
        defer {
            if let easy { curl_easy_cleanup(easy) }
            done.signal()
        }
        var next = monotonicSeconds()
        while !stopping.withLock({ $0 }) {
            let at = monotonicSeconds()
            let sample = scrape(easy)
            collected.withLock { $0.append((at, sample)) }
            next += options.intervalS
            let now = monotonicSeconds()
            // Behind schedule (a slow server): the next scrape starts now rather than in a burst.
            if next < now { next = now }
            _ = wake.wait(timeout: .now() + .nanoseconds(Int((next - now) * 1e9)))
        }
    }

    final class Sink {
        var bytes: [UInt8] = []
        static let limit = 32 << 20
    }

    private func scrape(_ easy: UnsafeMutableRawPointer?) -> ServerMetricsSample {
        guard let easy else { return ServerMetricsSample(t: 0, error: "curl_easy_init failed") }
        curl_easy_reset(easy)
        let shownURL = ServerTarget.withoutCredentials(options.url)
        let list: UnsafeMutablePointer<curl_slist>?
        do { list = try curlHeaderList(headers) } catch { return ServerMetricsSample(t: 0, error: "GET \(shownURL): \(error)") }
        defer { curl_slist_free_all(list) }
        let sink = Sink()
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        let code: CURLcode, status: Int
        do {
            (code, status) = try withExtendedLifetime(sink) { () throws(CCallError) -> (CURLcode, Int) in
                try CurlRequestOptions(
                    url: options.url, body: nil, headers: list, write: metricsSinkCallback,
                    writeData: Unmanaged.passUnretained(sink).toOpaque(), errorBuffer: errorBuffer,
                    timeoutMS: max(1, Int(options.timeoutS * 1000)), insecure: insecure
                ).apply(to: easy)
                let code = curl_easy_perform(easy)
                return (code, try responseCode(easy, .raise))
            }
        } catch {
            return ServerMetricsSample(t: 0, error: "GET \(shownURL): \(error)")
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            return ServerMetricsSample(
                t: 0, error: "GET \(shownURL) failed: " + (detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail))
        }
        guard (200..<300).contains(status) else {
            return ServerMetricsSample(t: 0, error: "GET \(shownURL) answered HTTP \(status)")
        }
        do {
            return ServerMetricsSample(t: 0, samples: try PrometheusText.parse(String(decoding: sink.bytes, as: UTF8.self)))
        } catch {
            return ServerMetricsSample(t: 0, error: "\(shownURL): \(error)")
        }
    }
}

private let metricsSinkCallback: curl_write_callback = { pointer, size, count, userdata in
    let length = size * count
    guard let userdata, let pointer else { return length }
    let sink = Unmanaged<MetricsScraper.Sink>.fromOpaque(userdata).takeUnretainedValue()
    // A body this large is not a metrics page: returning less than given makes curl stop with an error.
    guard sink.bytes.count + length <= MetricsScraper.Sink.limit else { return 0 }
    sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: length))
    return length
}

extension LoadGenerator {
    /// A run with the server's `/metrics` scraped from before the first request until every record is
    /// in; the samples are on the run's clock. Without `scraping` it is `run(plan:)`.
    public func run(
        plan: [PlannedRequest], scraping: MetricsScrapeOptions?, onProgress: (@Sendable (LoadProgress) -> Void)? = nil,
        onRecords: (@Sendable ([RequestRecord]) -> Void)? = nil
    ) async throws -> (LoadResult, [ServerMetricsSample]?) {
        guard let scraping else { return (try await run(plan: plan, onProgress: onProgress, onRecords: onRecords), nil) }
        let scraper = MetricsScraper(options: scraping, target: target)
        scraper.start()
        do {
            let result = try await run(plan: plan, onProgress: onProgress, onRecords: onRecords)
            return (result, scraper.stop(runStartMonotonic: result.runStartMonotonic))
        } catch {
            _ = scraper.stop(runStartMonotonic: 0)
            throw error
        }
    }
}
