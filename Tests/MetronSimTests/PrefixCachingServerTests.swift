import Foundation
import MetronModel
import MetronSim
import MetronSimModel
import MetronTestSupport
import XCTest

/// The simulator's prefix cache over HTTP: block identities from its tokenizer, cached tokens in
/// `usage`, vLLM's counters in `/metrics`.
final class PrefixCachingServerTests: XCTestCase {
    private func start(prefixCaching: Bool) async throws -> SimulatorServer {
        let config = SimulatorConfig(
            hardware: .h100, model: .llama3_8b, scheduler: SchedulerConfig(kind: .vllm), seed: 7,
            prefixCaching: prefixCaching)
        return try await SimulatorServer.start(SimulatorServerOptions(simulator: config))
    }

    /// 100 one-token words.
    private let context = (0..<100).map { "word\($0)" }.joined(separator: " ")

    private func cachedTokens(_ json: [String: Any]?) -> Int? {
        ((json?["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int
    }

    func testARepeatedPrefixIsReportedAsCachedTokens() async throws {
        let server = try await start(prefixCaching: true)
        // BOS, 100 words and a word of its own: 102 tokens, 6 full blocks, all shared by the two prompts.
        let first = try await TestClient.post(server, "/v1/completions", ["prompt": context + " one", "max_tokens": 2])
        XCTAssertEqual((first.json?["usage"] as? [String: Any])?["prompt_tokens"] as? Int, 102)
        XCTAssertEqual(cachedTokens(first.json), 0, "a cold cache")
        let second = try await TestClient.post(server, "/v1/completions", ["prompt": context + " two", "max_tokens": 2])
        XCTAssertEqual(cachedTokens(second.json), 96)

        let streamed = try await TestClient.post(
            server, "/v1/completions",
            ["prompt": context + " three", "max_tokens": 2, "stream": true, "stream_options": ["include_usage": true]])
        let usageEvent = try XCTUnwrap(streamed.eventObjects.compactMap { $0 }.last { $0["usage"] is [String: Any] })
        XCTAssertEqual(cachedTokens(usageEvent), 96, "the streamed usage chunk")

        let different = try await TestClient.post(server, "/v1/completions", ["prompt": "other " + context, "max_tokens": 2])
        XCTAssertEqual(cachedTokens(different.json), 0, "a prompt differing in its first block shares nothing")
        try await server.stop()
    }

    func testChatConversationsWithOneSystemPromptShareItsBlocks() async throws {
        let server = try await start(prefixCaching: true)
        func ask(_ question: String) async throws -> HTTPResult {
            try await TestClient.post(
                server, "/v1/chat/completions",
                ["messages": [["role": "system", "content": context], ["role": "user", "content": question]],
                 "max_tokens": 2])
        }
        _ = try await ask("first question")
        let second = try await ask("second question")
        // BOS, a 3-token header, 100 words: the first 104 tokens are the same, 6 full blocks.
        XCTAssertEqual(cachedTokens(second.json), 96)
        let otherRole = try await TestClient.post(
            server, "/v1/chat/completions",
            ["messages": [["role": "user", "content": context], ["role": "user", "content": "first question"]],
             "max_tokens": 2])
        XCTAssertEqual(cachedTokens(otherRole.json), 0, "the role is in the first block")
        try await server.stop()
    }

    func testResetPrefixCacheForgetsBlocksNoRequestHolds() async throws {
        let server = try await start(prefixCaching: true)
        _ = try await TestClient.post(server, "/v1/completions", ["prompt": context + " one", "max_tokens": 2])
        let reset = try await TestClient.request(server, .POST, "/reset_prefix_cache")
        XCTAssertEqual(reset.status, 200)
        let after = try await TestClient.post(server, "/v1/completions", ["prompt": context + " two", "max_tokens": 2])
        XCTAssertEqual(cachedTokens(after.json), 0)
        let again = try await TestClient.post(server, "/v1/completions", ["prompt": context + " three", "max_tokens": 2])
        XCTAssertEqual(cachedTokens(again.json), 96)
        let wrongMethod = try await TestClient.request(server, .GET, "/reset_prefix_cache")
        XCTAssertEqual(wrongMethod.status, 405)
        try await server.stop()
    }

    func testMetricsCountQueriedAndHitTokens() async throws {
        let server = try await start(prefixCaching: true)
        for tail in ["one", "two", "three"] {
            _ = try await TestClient.post(server, "/v1/completions", ["prompt": context + " " + tail, "max_tokens": 2])
        }
        let text = try await TestClient.request(server, .GET, "/metrics").body
        try await server.stop()
        XCTAssertTrue(text.contains("# TYPE vllm:prefix_cache_queries_total counter"), text)
        XCTAssertTrue(text.contains("# TYPE vllm:prefix_cache_hits_total counter"), text)
        let sample = ServerMetricsSample(t: 0, samples: try PrometheusText.parse(text))
        XCTAssertEqual(sample.prefixCacheQueriesTotal, 3 * 102)
        XCTAssertEqual(sample.prefixCacheHitsTotal, 2 * 96)
    }

    func testWithoutTheSwitchNothingIsCachedOrReported() async throws {
        let server = try await start(prefixCaching: false)
        for _ in 0..<2 {
            let r = try await TestClient.post(server, "/v1/completions", ["prompt": context, "max_tokens": 2])
            XCTAssertEqual(r.status, 200)
            XCTAssertFalse(r.body.contains("prompt_tokens_details"), r.body)
        }
        let text = try await TestClient.request(server, .GET, "/metrics").body
        try await server.stop()
        XCTAssertFalse(text.contains("prefix_cache"), text)
    }
}
