import Foundation
import MetronCore
import MetronReport
import MetronSearch
import MetronSearchTesting
import XCTest

/// Counts the probes that reach the real runner.
final class CountingRunner: ProbeRunner, @unchecked Sendable {
    let inner: ScriptedProbeRunner
    private let lock = NSLock()
    private var _count = 0
    var count: Int { lock.withLock { _count } }
    init(_ inner: ScriptedProbeRunner) { self.inner = inner }
    func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
        lock.withLock { _count += 1 }
        return inner.measure(request)
    }
}

final class ProbeCacheTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("metron-cache-\(UUID().uuidString)")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: dir)
    }

    let truth = ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: 10, scale: 0.4), seed: 4)

    func store(_ request: ProbeRequest, in cache: ProbeCache) throws -> ProbeMeasurement {
        let m = truth.measure(request)
        try cache.store(m, summary: RunSummary(records: m.records, targetRate: request.rate, deadlines: .referenceDefault))
        return m
    }

    func testRoundTripIsExact() throws {
        let cache = ProbeCache(directory: dir, fingerprint: "sys-a/chat/60s")
        let m = try store(ProbeRequest(rate: 8, attempt: 1), in: cache)
        XCTAssertEqual(cache.load(ProbeRequest(rate: 8, attempt: 1)), m)
        XCTAssertNil(cache.load(ProbeRequest(rate: 8, attempt: 0)))
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.url(for: m.request).path).sorted()
        XCTAssertEqual(files, ["complete", "probe.json", "requests.jsonl", "summary.json"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["rate-8.000-attempt-1"])
    }

    func testHalfWrittenDirectoryIsNeverTrusted() throws {
        let cache = ProbeCache(directory: dir, fingerprint: "f")
        let request = ProbeRequest(rate: 4)
        _ = try store(request, in: cache)
        try FileManager.default.removeItem(at: cache.url(for: request).appendingPathComponent("complete"))
        XCTAssertNil(cache.load(request), "no completion marker")

        _ = try store(request, in: cache)
        let records = cache.url(for: request).appendingPathComponent("requests.jsonl")
        let text = try String(contentsOf: records, encoding: .utf8)
        try String(text.prefix(text.count / 2)).write(to: records, atomically: false, encoding: .utf8)
        XCTAssertNil(cache.load(request), "truncated records")
    }

    func testOtherFingerprintIsMeasuredAgain() throws {
        _ = try store(ProbeRequest(rate: 4), in: ProbeCache(directory: dir, fingerprint: "60s window"))
        XCTAssertNil(ProbeCache(directory: dir, fingerprint: "120s window").load(ProbeRequest(rate: 4)))
    }

    func testRerunReusesEveryProbeAndRecomputesVerdictsForANewSLO() async throws {
        let cache = ProbeCache(directory: dir, fingerprint: "f")
        var settings = SearchSettings()
        settings.startRate = 2
        let first = CountingRunner(truth)
        let a = try await CapacitySearch(
            runner: CachingProbeRunner(inner: first, cache: cache, deadlines: .referenceDefault), slo: SLO(), settings: settings).run()
        XCTAssertEqual(first.count, a.probes.count)

        // The same search again: every probe comes from the cache and the answer is identical.
        let second = CountingRunner(truth)
        let b = try await CapacitySearch(
            runner: CachingProbeRunner(inner: second, cache: cache, deadlines: .referenceDefault), slo: SLO(), settings: settings).run()
        XCTAssertEqual(second.count, 0)
        XCTAssertEqual(a, b)

        // A stricter SLO over the same records: the verdicts change without measuring again.
        let strict = SLO(name: "strict", kind: .fluidity(percentile: 99, target: 0.99))
        let third = CountingRunner(truth)
        let c = try await CapacitySearch(
            runner: CachingProbeRunner(inner: third, cache: cache, deadlines: .referenceDefault), slo: strict, settings: settings).run()
        XCTAssertLessThan(third.count, c.probes.count, "cached probes were reused")
        XCTAssertEqual(c.slo.name, "strict")
    }

    func testCachingRunnerReplacesAnIncompleteProbe() async throws {
        let cache = ProbeCache(directory: dir, fingerprint: "f")
        let request = ProbeRequest(rate: 4)
        _ = try store(request, in: cache)
        try FileManager.default.removeItem(at: cache.url(for: request).appendingPathComponent("complete"))
        let counting = CountingRunner(truth)
        let runner = CachingProbeRunner(inner: counting, cache: cache, deadlines: .referenceDefault)
        _ = try await runner.probe(request)
        XCTAssertEqual(counting.count, 1)
        XCTAssertNotNil(cache.load(request))
        _ = try await runner.probe(request)
        XCTAssertEqual(counting.count, 1)
    }
}
