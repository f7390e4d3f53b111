import Foundation
import MetronModel
import MetronReport
import MetronSearch
import MetronSweep
import XCTest

/// A search over sessions: rates count sessions per second, and requests per session are reported
/// beside them.
final class SessionSearchTests: XCTestCase {
    /// 100 sessions of 3 turns over a 100 s window; in 10 of them the second turn fails and the third
    /// is never sent.
    private func measurement() -> ProbeMeasurement {
        var records: [RequestRecord] = []
        for session in 0..<100 {
            let start = Double(session)
            for turn in 0..<3 {
                let t = start + 0.3 * Double(turn)
                let broken = session % 10 == 0 && turn > 0
                var r = RequestRecord(id: records.count, scheduledS: t, sentS: turn == 2 && broken ? nil : t,
                                      chunkTimesS: broken ? [] : [t + 0.05, t + 0.07], chunkTokens: broken ? [] : [1, 1])
                if broken { r.status = turn == 1 ? .httpError : .sessionEnded }
                r.session = session
                r.turn = turn
                records.append(r)
            }
        }
        return ProbeMeasurement(request: ProbeRequest(rate: 1), records: records, windowStartS: 0, windowEndS: 100)
    }

    func testTheRateCountsSessionsAndUnsentTurnsAreTheServersFailures() {
        let result = ProbeResult(measurement(), slo: SLO(), rules: ValidityRules())
        XCTAssertEqual(result.requests, 300)
        XCTAssertEqual(result.sessions, 100)
        XCTAssertEqual(result.offeredRate ?? 0, 1, accuracy: 1e-9, "100 sessions opened over 100 s")
        XCTAssertTrue(result.valid, "turns never sent after a failure are not the client's: \(result.invalidReasons)")
        XCTAssertFalse(result.passed)
        XCTAssertEqual(result.errors, ["http_error": 10, "session_ended": 10])
        XCTAssertEqual(ProbeRow(result).sessions, 100)
    }

    func testTheSessionsSweepReportsSessionsPerSecondAndRequestsPerSession() async throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let sweep = try SweepFile.load(path: repo.appendingPathComponent("sweeps/sessions-sim.yaml").path)
        XCTAssertEqual(sweep.workloads.first?.spec.sessions,
                       SessionSpec(turns: .uniform(min: 2, max: 4), thinkTimeS: .exponential(mean: 1)))
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-sessions-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let searches = try await VirtualQuickstartTests.runInVirtualTime(sweep, root: root)
        let result = try XCTUnwrap(searches.first).result
        XCTAssertEqual(result.rateUnit, "sessions/s")
        XCTAssertTrue(result.probes.allSatisfy { $0.sessions != nil })
        // Uniform 2 to 4 turns: 3 on average, a little less in a window that cuts sessions short.
        let perSession = try XCTUnwrap(result.requestsPerSession)
        XCTAssertEqual(perSession, 3, accuracy: 0.3)
        for p in result.probes where p.valid {
            XCTAssertEqual(p.achievedRate ?? 0, (p.offeredRate ?? 0) * perSession, accuracy: 0.35 * (p.offeredRate ?? 0) * perSession,
                           "achieved counts requests, offered counts sessions (rate \(p.rate))")
        }
        let text = result.summaryText
        XCTAssertTrue(text.contains("sessions/s"), text)
        XCTAssertTrue(text.contains("requests per session in the valid probes' windows"), text)
        if let q = result.maxQPS {
            XCTAssertTrue(text.contains(String(format: "about %.3f req/s at capacity", q * perSession)), text)
        }
    }
}
