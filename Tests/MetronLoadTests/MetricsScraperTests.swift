import Foundation
import MetronModel
import MetronTestSupport
@testable import MetronLoad
import XCTest

/// The `/metrics` scraper against scripted servers on port 0: good pages, bad text, 404, nothing listening.
final class MetricsScraperTests: XCTestCase {
    static func answering(status: Int = 200, body: String) async throws -> ScriptedServer {
        try await ScriptedServer { _ in
            [ScriptedServer.head(status: status, contentType: "text/plain; version=0.0.4", chunked: false,
                                 extra: ["Content-Length: \(body.utf8.count)"]),
             .bytes(Array(body.utf8)), .close]
        }
    }

    func testAGoodPageIsMapped() async throws {
        let server = try await Self.answering(body: "vllm:num_requests_waiting{model_name=\"m\"} 9\nvllm:kv_cache_usage_perc 0.5\n")
        defer { Task { await server.shutdown() } }
        let sample = MetricsScraper(options: MetricsScrapeOptions(url: server.url + "/metrics")).scrapeOnce()
        XCTAssertNil(sample.error)
        XCTAssertEqual(sample.waiting, 9)
        XCTAssertEqual(sample.kvCacheUsage, 0.5)
        XCTAssertEqual(server.requests.first?.path, "/metrics")
        XCTAssertEqual(server.requests.first?.method, "GET")
    }

    func testBadTextIsAFailedSampleNamingTheLine() async throws {
        let server = try await Self.answering(body: "vllm:num_requests_waiting 1\nthis is not { metrics\n")
        defer { Task { await server.shutdown() } }
        let sample = MetricsScraper(options: MetricsScrapeOptions(url: server.url + "/metrics")).scrapeOnce()
        XCTAssertEqual(sample.error?.contains("metrics text line 2"), true, sample.error ?? "no error")
        XCTAssertNil(sample.waiting)
    }

    func testNotFoundIsAFailedSample() async throws {
        let server = try await Self.answering(status: 404, body: "{\"error\":\"no route\"}")
        defer { Task { await server.shutdown() } }
        let sample = MetricsScraper(options: MetricsScrapeOptions(url: server.url + "/metrics")).scrapeOnce()
        XCTAssertEqual(sample.error, "GET \(server.url)/metrics answered HTTP 404")
    }

    func testNothingListeningIsAFailedSample() async throws {
        let server = try await Self.answering(body: "")
        let url = server.url + "/metrics"
        await server.shutdown()
        let sample = MetricsScraper(options: MetricsScrapeOptions(url: url, timeoutS: 1)).scrapeOnce()
        XCTAssertEqual(sample.error?.hasPrefix("GET \(url) failed:"), true, sample.error ?? "no error")
    }

    func testScrapesEveryIntervalOnTheRunsClock() async throws {
        let server = try await Self.answering(body: "tgi_queue_size 2\n")
        defer { Task { await server.shutdown() } }
        let scraper = MetricsScraper(options: MetricsScrapeOptions(url: server.url + "/metrics", intervalS: 0.1))
        let origin = ProcessInfo.processInfo.systemUptime
        scraper.start()
        try await Task.sleep(nanoseconds: 450_000_000)
        let samples = scraper.stop(runStartMonotonic: origin)
        XCTAssertGreaterThanOrEqual(samples.count, 3)
        XCTAssertLessThanOrEqual(samples.count, 7)
        XCTAssertTrue(samples.allSatisfy { $0.error == nil && $0.waiting == 2 })
        XCTAssertEqual(samples.map(\.t), samples.map(\.t).sorted())
        XCTAssertLessThan(abs(samples[0].t), 0.1, "the first scrape is at the start")
        XCTAssertEqual(samples[1].t - samples[0].t, 0.1, accuracy: 0.05)
    }

    func testDefaultURLIsTheOriginWithoutV1() {
        func url(_ base: String) -> String { MetricsScrapeOptions.defaultURL(for: ServerTarget(url: base, model: "m")) }
        XCTAssertEqual(url("http://h:8000"), "http://h:8000/metrics")
        XCTAssertEqual(url("http://h:8000/"), "http://h:8000/metrics")
        XCTAssertEqual(url("http://h:8000/v1"), "http://h:8000/metrics")
        XCTAssertEqual(url("http://h:8000/v1/"), "http://h:8000/metrics")
        XCTAssertEqual(url("https://h/proxy/v1/chat/completions"), "https://h/proxy/metrics")
    }
}
