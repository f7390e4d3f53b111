import Foundation
import MetronModel
import MetronLoad
@testable import MetronSim
import MetronStats
import MetronTestSupport
import XCTest

/// The real load generator against the in-process simulator with each injected fault: every planned
/// request gets exactly one record with the right category and HTTP status, the run ends on its own
/// (per-request timeouts, bounded drain), and the summary counts errors by kind.
final class FaultModeTests: XCTestCase {
    /// The faults the simulator draws for its first `count` requests, in arrival order, from a
    /// generator seeded with the seed `Harness.startSimulator` gives the server.
    private func drawn(_ faults: FaultConfig, count: Int) -> [FaultPlan] {
        let random = RandomSource(seed: Harness.simulatorConfig().seed)
        return (0..<count).map { _ in FaultPlan.draw(faults, random: random) }
    }

    /// Runs `count` identical requests against a simulator with `faults`.
    private func run(
        _ faults: FaultConfig, count: Int = 16, outputTokens: Int = 8,
        timeouts: RequestTimeouts = RequestTimeouts(connect: 2, firstToken: 5, total: 10), drainTimeout: Double? = nil
    ) async throws -> (LoadResult, RunSummary) {
        let server = try await Harness.startSimulator(faults: faults)
        let plan = Harness.plan(count: count, outputTokens: outputTokens)
        let result = try await Harness.run(
            Harness.generator(url: server.url, timeouts: timeouts, drainTimeout: drainTimeout), plan: plan)
        try await server.stop()
        return (result, Harness.checkRecords(result, plan: plan))
    }

    private func maxGap(_ r: RequestRecord) -> Double {
        zip(r.chunkTimesS.dropFirst(), r.chunkTimesS).map { $0 - $1 }.max() ?? 0
    }

    // MARK: no fault: the baseline every fault is compared with

    func testNoFaultEveryRequestIsOkWithAllTokens() async throws {
        let (result, summary) = try await run(.none)
        XCTAssertEqual(summary.ok, 16)
        for r in result.records {
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(r.httpStatus, 200)
            XCTAssertEqual(r.chunkTokens, Array(repeating: 1, count: 8))
            XCTAssertEqual(r.outputTokens, 8)
            XCTAssertGreaterThanOrEqual(r.promptTokens ?? 0, 17, "the server's own count of 16 words and a tag")
        }
    }

    // MARK: each fault at probability 1

    func testHTTPErrorsAtProbabilityOneAreHTTPErrorRecordsWithTheirStatus() async throws {
        var faults = FaultConfig()
        faults.errorRate = 1
        let (result, summary) = try await run(faults)
        XCTAssertEqual(summary.errors["http_error"], 16)
        XCTAssertEqual(summary.ok, 0)
        for r in result.records {
            XCTAssertEqual(r.status, .httpError)
            let status = try XCTUnwrap(r.httpStatus)
            XCTAssertTrue([429, 500, 503].contains(status), "\(status)")
            XCTAssertTrue(r.error?.hasPrefix("HTTP \(status): ") ?? false, r.error ?? "")
            XCTAssertTrue(r.error?.contains("injected fault") ?? false, "the server's error body is kept: \(r.error ?? "")")
            XCTAssertTrue(r.chunkTimesS.isEmpty)
        }
        let expected = drawn(faults, count: 16).compactMap(\.errorStatus).sorted()
        XCTAssertEqual(result.records.compactMap(\.httpStatus).sorted(), expected, "the seeded mix of 429, 500 and 503")
        XCTAssertEqual(Set(expected).count, 3, "the seed gives all three statuses")
    }

    func testDisconnectAtProbabilityOneIsAStreamErrorKeepingTheChunksReceived() async throws {
        var faults = FaultConfig()
        faults.disconnectRate = 1
        let (result, summary) = try await run(faults)
        XCTAssertEqual(summary.errors["stream_error"], 16)
        for r in result.records {
            XCTAssertEqual(r.status, .streamError)
            XCTAssertEqual(r.httpStatus, 200)
            XCTAssertEqual(r.chunkTimesS.count, 4, "the server closes after half of the 8 tokens")
            XCTAssertEqual(r.outputTokens, 4)
            XCTAssertTrue(r.error?.contains("stream broke after 4 content chunks") ?? false, r.error ?? "")
        }
    }

    func testStallAtProbabilityOneIsOkWithTheGapInTheRecord() async throws {
        var faults = FaultConfig()
        faults.stallRate = 1
        faults.stallSeconds = 0.3
        let (result, summary) = try await run(faults)
        XCTAssertEqual(summary.ok, 16)
        for r in result.records {
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(r.chunkTokens.reduce(0, +), 8)
            XCTAssertGreaterThanOrEqual(maxGap(r), 0.29, "the stall shows as one long gap")
        }
    }

    func testStallLongerThanTheTotalTimeoutIsATimeoutKeepingTheChunks() async throws {
        var faults = FaultConfig()
        faults.stallRate = 1
        faults.stallSeconds = 20
        let (result, summary) = try await run(
            faults, count: 6, timeouts: RequestTimeouts(connect: 2, firstToken: 2, total: 1))
        XCTAssertEqual(summary.errors["timeout"], 6)
        for r in result.records {
            XCTAssertEqual(r.status, .timeout)
            XCTAssertEqual(r.httpStatus, 200)
            XCTAssertEqual(r.chunkTimesS.count, 4)
            XCTAssertTrue(r.error?.hasPrefix("total timeout (1.0 s)") ?? false, r.error ?? "")
        }
    }

    func testTheFinalDrainIsBoundedEvenWhenEveryStreamHangs() async throws {
        var faults = FaultConfig()
        faults.stallRate = 1
        faults.stallSeconds = 60
        let started = Date()
        let (result, summary) = try await run(
            faults, count: 6, timeouts: RequestTimeouts(connect: 2, firstToken: 5, total: 60), drainTimeout: 0.5)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "the drain limit, not the 60 s stall, ended the run")
        XCTAssertEqual(summary.errors["cancelled"], 6)
        for r in result.records {
            XCTAssertEqual(r.status, .cancelled)
            XCTAssertEqual(r.chunkTimesS.count, 4, "chunks received before the drain ended are kept")
            XCTAssertNotNil(r.sentS)
            XCTAssertTrue(r.error?.contains("final drain (0.5 s") ?? false, r.error ?? "")
        }
    }

    func testMalformedChunkAtProbabilityOneIsAStreamError() async throws {
        var faults = FaultConfig()
        faults.malformedRate = 1
        let (result, summary) = try await run(faults)
        XCTAssertEqual(summary.errors["stream_error"], 16)
        for r in result.records {
            XCTAssertEqual(r.status, .streamError)
            XCTAssertEqual(r.httpStatus, 200)
            XCTAssertGreaterThanOrEqual(r.chunkTimesS.count, 4, "content before the bad event is kept")
            XCTAssertNotNil(r.error)
        }
    }

    func testNoDoneAtProbabilityOneIsStillOk() async throws {
        var faults = FaultConfig()
        faults.noDoneRate = 1
        let (result, summary) = try await run(faults)
        XCTAssertEqual(summary.ok, 16)
        for r in result.records {
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(r.outputTokens, 8, "the usage chunk still counts")
            XCTAssertEqual(r.chunkTokens, Array(repeating: 1, count: 8))
        }
    }

    func testSlowHeadersAtProbabilityOneDelayTheFirstToken() async throws {
        var faults = FaultConfig()
        faults.slowHeadersRate = 1
        faults.slowHeadersSeconds = 0.3
        let (result, summary) = try await run(faults)
        XCTAssertEqual(summary.ok, 16)
        for r in result.records {
            let first = try XCTUnwrap(r.chunkTimesS.first)
            XCTAssertGreaterThanOrEqual(first - (r.sentS ?? 0), 0.29, "held before the headers")
        }
    }

    func testSlowHeadersPastTheFirstTokenTimeoutAreTimeoutsWithoutHTTPStatus() async throws {
        var faults = FaultConfig()
        faults.slowHeadersRate = 1
        faults.slowHeadersSeconds = 10
        let (result, summary) = try await run(
            faults, count: 6, timeouts: RequestTimeouts(connect: 2, firstToken: 0.3, total: 30))
        XCTAssertEqual(summary.errors["timeout"], 6)
        for r in result.records {
            XCTAssertEqual(r.status, .timeout)
            XCTAssertNil(r.httpStatus, "no headers arrived")
            XCTAssertTrue(r.error?.hasPrefix("first-token timeout (0.3 s)") ?? false, r.error ?? "")
        }
    }

    // MARK: each fault at a partial probability, seeded

    /// Each fault at probability 0.5: the requests it hits are exactly the ones the seeded draws pick
    /// (counted by what the records show, since identical requests may reach the server in either order).
    func testEachFaultAtAPartialProbabilityHitsTheSeededShare() async throws {
        let count = 24
        for kind in ["error", "disconnect", "stall", "malformed", "no-done", "slow-headers"] {
            var faults = FaultConfig()
            faults.stallSeconds = 0.4
            faults.slowHeadersSeconds = 0.4
            switch kind {
            case "error": faults.errorRate = 0.5
            case "disconnect": faults.disconnectRate = 0.5
            case "stall": faults.stallRate = 0.5
            case "malformed": faults.malformedRate = 0.5
            case "no-done": faults.noDoneRate = 0.5
            default: faults.slowHeadersRate = 0.5
            }
            let plan = drawn(faults, count: count)
            let (result, summary) = try await run(faults, count: count)
            let records = result.records
            let hit: Int
            switch kind {
            case "error":
                hit = plan.filter { $0.errorStatus != nil }.count
                XCTAssertEqual(records.compactMap { $0.status == .httpError ? $0.httpStatus : nil }.sorted(),
                               plan.compactMap(\.errorStatus).sorted(), kind)
                XCTAssertEqual(summary.errors["http_error"] ?? 0, hit, kind)
                XCTAssertEqual(summary.ok, count - hit, kind)
            case "disconnect", "malformed":
                hit = plan.filter { kind == "disconnect" ? $0.disconnect : $0.malformed }.count
                XCTAssertEqual(summary.errors["stream_error"] ?? 0, hit, kind)
                XCTAssertEqual(summary.ok, count - hit, kind)
                XCTAssertTrue(records.allSatisfy { $0.httpStatus == 200 }, kind)
            case "stall":
                hit = plan.filter(\.stall).count
                XCTAssertEqual(summary.ok, count, kind)
                XCTAssertEqual(records.filter { maxGap($0) >= 0.39 }.count, hit, kind)
            case "slow-headers":
                hit = plan.filter(\.slowHeaders).count
                XCTAssertEqual(summary.ok, count, kind)
                XCTAssertEqual(records.filter { ($0.chunkTimesS.first ?? 0) - ($0.sentS ?? 0) >= 0.39 }.count, hit, kind)
            default:
                hit = plan.filter(\.omitDone).count
                XCTAssertEqual(summary.ok, count, kind)
                XCTAssertTrue(records.allSatisfy { $0.outputTokens == 8 }, kind)
            }
            XCTAssertGreaterThan(hit, 0, "\(kind): the seed hits some requests")
            XCTAssertLessThan(hit, count, "\(kind): and spares some")
        }
    }

    /// All faults at once at partial rates: each request's category follows from its own draws (an
    /// HTTP error first; else a disconnect or malformed chunk breaks the stream; stalls, slow headers
    /// and a missing [DONE] still end ok).
    func testAllFaultsTogetherGiveTheCategoriesTheirDrawsImply() async throws {
        var faults = FaultConfig()
        faults.errorRate = 0.2
        faults.disconnectRate = 0.2
        faults.stallRate = 0.2
        faults.stallSeconds = 0.1
        faults.malformedRate = 0.2
        faults.noDoneRate = 0.3
        faults.slowHeadersRate = 0.2
        faults.slowHeadersSeconds = 0.1
        let count = 40
        let expected = drawn(faults, count: count).map { d -> String in
            if let status = d.errorStatus { return "http_error \(status)" }
            if d.disconnect || d.malformed { return "stream_error 200" }
            return "ok 200"
        }
        let (result, summary) = try await run(faults, count: count)
        let got = result.records.map { "\($0.status.rawValue) \($0.httpStatus.map(String.init) ?? "-")" }
        XCTAssertEqual(got.sorted(), expected.sorted())
        XCTAssertEqual(Set(got).count, 5, "ok, stream errors and all three HTTP statuses: \(Set(got))")
        XCTAssertEqual(summary.errorRate, Double(count - summary.ok) / Double(count))
    }

    // MARK: servers that are not there

    func testAServerThatGoesAwayMidRunLeavesOneRecordPerRequest() async throws {
        let server = try await Harness.startSimulator()
        // 60 requests over 3 s, each streaming 40 tokens (about 0.3 s): the server is stopped once
        // five have finished, with streams open and most requests still to be sent.
        let plan = Harness.plan(count: 60, spacing: 0.05, outputTokens: 40)
        let stopper = StopOnce(server)
        let result = try await Harness.run(Harness.generator(url: server.url), plan: plan) { progress in
            if progress.finished >= 5 { stopper.fire() }
        }
        await stopper.wait()
        let summary = Harness.checkRecords(result, plan: plan)
        let counts = Harness.counts(result.records)
        XCTAssertGreaterThanOrEqual(counts[.ok] ?? 0, 5, "requests done before the stop are ok")
        XCTAssertGreaterThan(counts[.connectionError] ?? 0, 0, "requests sent after the stop are refused")
        XCTAssertEqual(Set(counts.keys).subtracting([.ok, .streamError, .connectionError]), [],
                       "nothing else: \(counts)")
        XCTAssertEqual(summary.errors["connection_error"], counts[.connectionError])
        for r in result.records {
            XCTAssertNotNil(r.sentS, "every request was sent on schedule, server or not")
            switch r.status {
            case .ok: XCTAssertEqual(r.chunkTokens.reduce(0, +), 40)
            case .streamError:
                XCTAssertEqual(r.httpStatus, 200)
                XCTAssertLessThan(r.chunkTimesS.count, 40)
            case .connectionError:
                XCTAssertTrue(r.chunkTimesS.isEmpty)
                XCTAssertTrue(r.httpStatus == nil || r.httpStatus == 0)
            default: break
            }
        }
        // Open loop: the stop did not slow the schedule (the requests after it were still sent).
        let lastSend = try XCTUnwrap(result.records.compactMap(\.sentS).max())
        XCTAssertGreaterThanOrEqual(lastSend, try XCTUnwrap(plan.last).arrival)
    }

    func testAPortWhereNothingListensGivesConnectionErrors() async throws {
        let port = try Harness.closedPort()
        let plan = Harness.plan(count: 10)
        let result = try await Harness.run(Harness.generator(url: "http://127.0.0.1:\(port)"), plan: plan)
        let summary = Harness.checkRecords(result, plan: plan)
        XCTAssertEqual(summary.errors["connection_error"], 10)
        for r in result.records {
            XCTAssertEqual(r.status, .connectionError)
            XCTAssertNil(r.httpStatus)
            XCTAssertTrue(r.error?.contains("curl error 7") ?? false, r.error ?? "")
        }
    }

    func testAServerThatAcceptsButNeverAnswersEndsInFirstTokenTimeouts() async throws {
        let listener = try SilentListener()
        let plan = Harness.plan(count: 8)
        let result = try await Harness.run(
            Harness.generator(url: "http://127.0.0.1:\(listener.port)",
                              timeouts: RequestTimeouts(connect: 2, firstToken: 0.3, total: 30)),
            plan: plan)
        let summary = Harness.checkRecords(result, plan: plan)
        XCTAssertEqual(summary.errors["timeout"], 8)
        for r in result.records {
            XCTAssertEqual(r.status, .timeout)
            XCTAssertNil(r.httpStatus)
            XCTAssertTrue(r.error?.hasPrefix("first-token timeout") ?? false, r.error ?? "")
        }
        withExtendedLifetime(listener) {}
    }

    func testCancellingTheRunRecordsOpenAndUnsentRequestsAsCancelled() async throws {
        var faults = FaultConfig()
        faults.stallRate = 1
        faults.stallSeconds = 30
        let server = try await Harness.startSimulator(faults: faults)
        let plan = Harness.plan(count: 40, spacing: 0.05)
        let generator = Harness.generator(url: server.url, timeouts: RequestTimeouts(connect: 2, firstToken: 5, total: 60))
        let run = Task { try await generator.run(plan: plan) }
        try await Task.sleep(nanoseconds: 500_000_000)
        run.cancel()
        let result = try await run.value
        try await server.stop()
        Harness.checkRecords(result, plan: plan)
        XCTAssertTrue(result.records.allSatisfy { $0.status == .cancelled })
        let unsent = result.records.filter { $0.sentS == nil }
        XCTAssertFalse(unsent.isEmpty, "requests after the cancel were never sent")
        XCTAssertTrue(unsent.allSatisfy { $0.error?.hasPrefix("never sent") ?? false })
        XCTAssertTrue(result.records.filter { $0.sentS != nil }.allSatisfy { $0.error?.contains("interrupted") ?? false })
    }
}

/// Stops a server once, from the progress callback, and lets the test wait for the stop to finish.
private final class StopOnce: @unchecked Sendable {
    private let server: SimulatorServer
    private let lock = NSLock()
    private var task: Task<Void, Never>?

    init(_ server: SimulatorServer) { self.server = server }

    func fire() {
        lock.lock()
        defer { lock.unlock() }
        guard task == nil else { return }
        let server = self.server
        task = Task { try? await server.stop() }
    }

    func wait() async {
        let pending = lock.withLock { task }
        if let pending { await pending.value } else { try? await server.stop() }
    }
}
