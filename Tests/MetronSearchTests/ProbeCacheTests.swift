import Foundation
import MetronModel
import MetronReport
import MetronSearch
import MetronSweep
import MetronTestSupport
import XCTest

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
        let cache = ProbeCache(directory: dir, identity: Self.identity)
        let m = try store(ProbeRequest(rate: 8, attempt: 1), in: cache)
        XCTAssertEqual(cache.load(ProbeRequest(rate: 8, attempt: 1)), .found(m))
        XCTAssertEqual(cache.load(ProbeRequest(rate: 8, attempt: 0)), .absent)
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.url(for: m.request).path).sorted()
        XCTAssertEqual(files, ["complete", "probe.json", "requests.jsonl", "summary.json"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["rate-8.000-attempt-1"])
    }

    func testHalfWrittenDirectoryIsNeverTrusted() throws {
        let cache = ProbeCache(directory: dir, identity: Self.identity)
        let request = ProbeRequest(rate: 4)
        _ = try store(request, in: cache)
        try FileManager.default.removeItem(at: cache.url(for: request).appendingPathComponent("complete"))
        XCTAssertEqual(cache.load(request), .unusable("it is incomplete"), "no completion marker")

        _ = try store(request, in: cache)
        let records = cache.url(for: request).appendingPathComponent("requests.jsonl")
        let text = try String(contentsOf: records, encoding: .utf8)
        try String(text.prefix(text.count / 2)).write(to: records, atomically: false, encoding: .utf8)
        XCTAssertNil(cache.load(request).measurement, "truncated records")
    }

    static let identity = ProbeIdentity(settings: ["system": "scripted", "record_format": "2"])

    func testAProbeOfOtherSettingsIsMeasuredAgainAndTheOldOneKept() async throws {
        var other = Self.identity
        other.settings["min_requests"] = "300"
        _ = try store(ProbeRequest(rate: 4), in: ProbeCache(directory: dir, identity: Self.identity))
        let cache = ProbeCache(directory: dir, identity: other)
        XCTAssertEqual(cache.load(ProbeRequest(rate: 4)), .unusable("min_requests (not recorded) -> 300"))

        let stale = Reasons()
        let counting = CountingRunner(truth)
        let runner = CachingProbeRunner(inner: counting, cache: cache, deadlines: .referenceDefault,
                                        onStale: { stale.add("\($0.directoryName): \($1)") })
        _ = try await runner.probe(ProbeRequest(rate: 4))
        XCTAssertEqual(counting.count, 1)
        XCTAssertEqual(stale.all, ["rate-4.000: min_requests (not recorded) -> 300"])
        XCTAssertNotNil(cache.load(ProbeRequest(rate: 4)).measurement)
        let superseded = dir.appendingPathComponent("rate-4.000.superseded")
        XCTAssertTrue(FileManager.default.fileExists(atPath: superseded.appendingPathComponent("requests.jsonl").path),
                      "the probe measured under the old settings is kept")
    }

    func testAProbeWithoutRecordedSettingsIsNotReused() throws {
        let request = ProbeRequest(rate: 4)
        let cache = ProbeCache(directory: dir, identity: Self.identity)
        _ = try store(request, in: cache)
        let meta = cache.url(for: request).appendingPathComponent(ProbeCache.metadataFile)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: meta)) as? [String: Any])
        object["identity"] = nil
        object["fingerprint"] = "sys/chat/0123abcd"
        try JSONSerialization.data(withJSONObject: object).write(to: meta)
        XCTAssertEqual(cache.load(request), .unusable("it records no settings (an older record format)"))
    }

    func testRerunReusesEveryProbeAndRecomputesVerdictsForANewSLO() async throws {
        let cache = ProbeCache(directory: dir, identity: Self.identity)
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
        let cache = ProbeCache(directory: dir, identity: Self.identity)
        let request = ProbeRequest(rate: 4)
        _ = try store(request, in: cache)
        try FileManager.default.removeItem(at: cache.url(for: request).appendingPathComponent("complete"))
        let counting = CountingRunner(truth)
        let runner = CachingProbeRunner(inner: counting, cache: cache, deadlines: .referenceDefault)
        _ = try await runner.probe(request)
        XCTAssertEqual(counting.count, 1)
        XCTAssertNotNil(cache.load(request).measurement)
        _ = try await runner.probe(request)
        XCTAssertEqual(counting.count, 1)
    }
}
