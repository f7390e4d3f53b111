import Foundation
import MetronModel
import MetronTestSupport
import XCTest

/// Seeded fuzzing of the Prometheus text parser: mutated pages never crash it, every rejection names a
/// line of the input, and whatever it accepts renders and reads back to the same samples.
final class MetricsTextFuzzTests: XCTestCase {
    func testPrometheusTextParser() throws {
        let mutator = Mutator(seed: 909)
        let valid = Array("""
            # HELP vllm:num_requests_running Requests running.
            # TYPE vllm:num_requests_running gauge
            vllm:num_requests_running{model_name="m",engine="0"} 4.0
            vllm:kv_cache_usage_perc{model_name="m"} 0.93
            vllm:time_to_first_token_seconds_bucket{le="0.25",model_name="m"} 17
            vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 20
            sglang:token_usage{name="a \\"b\\" \\\\ c"} 1e-3 1700000000000
            tgi_queue_size -Inf

            """.utf8)
        var accepted = 0, rejected = 0
        for i in 0..<Mutator.iterations {
            let input = i % 7 == 0 ? mutator.noise(maxLength: 300) : mutator.mutate(valid)
            let text = String(decoding: input, as: UTF8.self)
            do {
                let samples = try PrometheusText.parse(text)
                XCTAssertEqual(try PrometheusText.parse(PrometheusText.render(samples)), samples, text)
                // Mapping never fails and keeps only finite values.
                let mapped = ServerMetricsSample(t: 0, samples: samples)
                XCTAssertTrue((mapped.raw ?? [:]).values.allSatisfy(\.isFinite))
                XCTAssertNoThrow(try JSONEncoder().encode(mapped), text)
                accepted += 1
            } catch let error as PrometheusParseError {
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
                XCTAssertTrue((1...lines).contains(error.line), "\(error) for \(lines) lines")
                XCTAssertFalse(error.message.isEmpty)
                rejected += 1
            }
        }
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertGreaterThan(rejected, 0)
    }
}
