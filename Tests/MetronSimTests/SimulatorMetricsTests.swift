import Foundation
import MetronModel
import MetronSim
import MetronSimModel
import MetronTestSupport
import XCTest

/// The simulator's `/metrics` as a vLLM server writes it: the parser reads every line, and the TTFT and
/// inter-token histograms count each finished request.
final class SimulatorMetricsTests: XCTestCase {
    func testMetricsParseAndTheHistogramsCountRequests() async throws {
        let config = SimulatorConfig(hardware: .h100, model: .llama3_8b, scheduler: SchedulerConfig(kind: .vllm), seed: 7)
        let server = try await SimulatorServer.start(SimulatorServerOptions(simulator: config))
        let before = ServerMetricsSample(t: 0, samples: try PrometheusText.parse(try await TestClient.request(server, .GET, "/metrics").body))
        for _ in 0..<3 {
            _ = try await TestClient.post(server, "/v1/completions", ["prompt": "one two three", "max_tokens": 4, "ignore_eos": true])
        }
        let text = try await TestClient.request(server, .GET, "/metrics").body
        try await server.stop()
        let after = ServerMetricsSample(t: 1, samples: try PrometheusText.parse(text))
        XCTAssertEqual(after.server, "vllm")
        XCTAssertEqual(after.running, 0)
        XCTAssertEqual(after.waiting, 0)
        XCTAssertEqual(after.kvCacheUsage, 0)
        XCTAssertEqual(after.preemptionsTotal, 0)
        XCTAssertTrue(text.contains("# TYPE vllm:time_to_first_token_seconds histogram"), text)
        let ttft = try XCTUnwrap(after.ttft?.since(try XCTUnwrap(before.ttft)))
        XCTAssertEqual(ttft.count, 3)
        XCTAssertEqual(ttft.cumulative.last, 3, "every TTFT is below the last finite bound")
        XCTAssertGreaterThan(ttft.sum ?? 0, 0)
        XCTAssertEqual(after.interTokenLatency?.count, 9, "three gaps in each of three four-token answers")
        XCTAssertEqual(ttft.bounds.first, 0.001)
    }
}
