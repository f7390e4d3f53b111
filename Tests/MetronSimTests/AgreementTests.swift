import Foundation
import MetronModel
import MetronSim
import MetronSimModel
import MetronTestSupport
import XCTest

/// The HTTP front and the virtual-time model run the same engine; driven by the same seeded workload they
/// must give the same latencies up to timer and network noise.
final class AgreementTests: XCTestCase {
    private func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    func testHTTPFrontMatchesVirtualTime() async throws {
        // A 30 ms per-iteration overhead makes every iteration tens of milliseconds, far above the
        // millisecond-scale scheduling noise of a shared machine.
        var efficiency = EfficiencyConstants.standard
        efficiency.iterationOverheadS = 0.03
        let config = SimulatorConfig(
            hardware: .h100, model: .llama3_8b, scheduler: SchedulerConfig(kind: .sarathi, tokenBudget: 256),
            efficiency: efficiency, seed: 3)
        let spec = WorkloadSpec(
            lengths: .distributions(prompt: .uniform(min: 20, max: 600), output: .uniform(min: 3, max: 12)), seed: 3)
        let plan = try spec.plan(rate: 5, duration: 3)
        XCTAssertGreaterThan(plan.count, 8)

        let server = try await SimulatorServer.start(SimulatorServerOptions(simulator: config))
        let start = monotonicSeconds() + 0.05
        let results = try await withThrowingTaskGroup(of: (Int, HTTPResult).self) { group in
            for p in plan {
                group.addTask {
                    let wait = start + p.arrival - monotonicSeconds()
                    if wait > 0 { try await Task.sleep(nanoseconds: UInt64(wait * 1e9)) }
                    // Token ids give an exact prompt length.
                    let r = try await TestClient.post(server, "/v1/completions", [
                        "prompt": [Int](repeating: 9, count: p.promptTokens), "max_tokens": p.outputTokens,
                        "stream": true,
                    ])
                    return (p.id, r)
                }
            }
            var byID: [Int: HTTPResult] = [:]
            for try await (id, r) in group { byID[id] = r }
            return try plan.map { try XCTUnwrap(byID[$0.id], "no answer to request \($0.id)") }
        }
        try await server.stop()

        // Replay the arrivals as they actually happened, so client lateness is not counted as disagreement.
        let actual = zip(plan, results).map { p, r in
            PlannedRequest(id: p.id, arrival: r.sentAt - start, promptTokens: p.promptTokens, outputTokens: p.outputTokens)
        }
        let virtual = try simulateInVirtualTime(actual, config: config)

        var realTTFT: [Double] = [], virtualTTFT: [Double] = [], realTBT: [Double] = [], virtualTBT: [Double] = []
        for (r, v) in zip(results, virtual) {
            let times = r.contentEvents.map(\.time)
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(times.count, v.chunkTimesS.count)
            guard times.count == v.chunkTimesS.count, !times.isEmpty else { continue }
            realTTFT.append(times[0] - r.sentAt)
            virtualTTFT.append(v.chunkTimesS[0] - v.scheduledS)
            for k in 1..<times.count {
                realTBT.append(times[k] - times[k - 1])
                virtualTBT.append(v.chunkTimesS[k] - v.chunkTimesS[k - 1])
            }
        }
        let report = String(
            format: "TTFT median real %.4f virtual %.4f, per-request |difference| median %.4f; "
                + "TBT median real %.4f virtual %.4f",
            median(realTTFT), median(virtualTTFT), median(zip(realTTFT, virtualTTFT).map { abs($0 - $1) }),
            median(realTBT), median(virtualTBT))
        print(report)
        // Real TTFT also holds request parsing and the loopback trip (a millisecond or more in a debug
        // build on a busy machine); a request that reaches the server just after an iteration starts waits
        // one iteration longer than in virtual time. Most requests must match closely, a few may differ
        // by an iteration.
        let ttftDifferences = zip(realTTFT, virtualTTFT).map { abs($0 - $1) }
        XCTAssertLessThan(median(ttftDifferences), 0.010, report)
        XCTAssertEqual(median(realTBT), median(virtualTBT), accuracy: 0.005, report)
        let realMean = realTBT.reduce(0, +) / Double(realTBT.count)
        let virtualMean = virtualTBT.reduce(0, +) / Double(virtualTBT.count)
        XCTAssertEqual(realMean, virtualMean, accuracy: 0.005, report)
    }
}
