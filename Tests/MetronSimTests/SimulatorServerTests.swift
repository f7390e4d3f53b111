import Foundation
import MetronModel
import MetronSim
import MetronSimModel
import MetronTestSupport
import XCTest

final class SimulatorServerTests: XCTestCase {
    private func start(
        scheduler: SchedulerKind = .vllm, overhead: Double? = nil, faults: FaultConfig = .none,
        truthLog: String? = nil, reasoningTokens: LengthDistribution? = nil
    ) async throws -> SimulatorServer {
        var efficiency = EfficiencyConstants.standard
        if let overhead { efficiency.iterationOverheadS = overhead }
        let config = SimulatorConfig(
            hardware: .h100, model: .llama3_8b, scheduler: SchedulerConfig(kind: scheduler), efficiency: efficiency,
            seed: 7, reasoningTokens: reasoningTokens)
        return try await SimulatorServer.start(
            SimulatorServerOptions(simulator: config, truthLogPath: truthLog, faults: faults))
    }

    private func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("metron-sim-\(UUID().uuidString)-\(name)").path
    }

    func testPortZeroPicksAFreePortAndTheURLNamesIt() async throws {
        let a = try await start(), b = try await start()
        XCTAssertNotEqual(a.port, 0)
        XCTAssertNotEqual(a.port, b.port)
        XCTAssertEqual(a.url, "http://127.0.0.1:\(a.port)")
        try await a.stop()
        try await b.stop()
    }

    func testHealthModelsTokenizeMetricsAndUnknownRoutes() async throws {
        let server = try await start()
        let health = try await TestClient.request(server, .GET, "/health")
        XCTAssertEqual(health.status, 200)

        let models = try await TestClient.request(server, .GET, "/v1/models")
        let data = try XCTUnwrap(models.json?["data"] as? [[String: Any]])
        XCTAssertEqual(data.first?["id"] as? String, "llama-3-8b")
        XCTAssertEqual(data.first?["max_model_len"] as? Int, 8192)

        let tokenized = try await TestClient.post(server, "/tokenize", ["prompt": "Hello, world! one two"])
        XCTAssertEqual(tokenized.json?["count"] as? Int, 7, "six pieces plus BOS: \(tokenized.body)")
        XCTAssertEqual((tokenized.json?["tokens"] as? [Int])?.count, 7)
        let bare = try await TestClient.post(
            server, "/tokenize", ["prompt": "a b c", "add_special_tokens": false])
        XCTAssertEqual(bare.json?["count"] as? Int, 3)
        let chat = try await TestClient.post(
            server, "/tokenize", ["messages": [["role": "user", "content": "a b c"]]])
        XCTAssertEqual(chat.json?["count"] as? Int, 1 + 3 + 4 + 3)

        _ = try await TestClient.post(server, "/v1/completions", ["prompt": "one two three", "max_tokens": 3])
        let metrics = try await TestClient.request(server, .GET, "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        for line in [
            "# TYPE vllm:num_requests_running gauge", "vllm:num_requests_running{model_name=\"llama-3-8b\"} 0",
            "vllm:num_requests_waiting{model_name=\"llama-3-8b\"} 0", "# TYPE vllm:gpu_cache_usage_perc gauge",
            "vllm:prompt_tokens_total{model_name=\"llama-3-8b\"} 4",
            "vllm:generation_tokens_total{model_name=\"llama-3-8b\"} 3",
        ] {
            XCTAssertTrue(metrics.body.contains(line), "missing \(line) in\n\(metrics.body)")
        }

        let missing = try await TestClient.request(server, .GET, "/nowhere")
        XCTAssertEqual(missing.status, 404)
        XCTAssertNotNil((missing.json?["error"] as? [String: Any])?["message"])
        let wrongMethod = try await TestClient.request(server, .GET, "/v1/completions")
        XCTAssertEqual(wrongMethod.status, 405)
        try await server.stop()
    }

    func testStreamingCompletionFramingAndUsageChunk() async throws {
        let server = try await start()
        let result = try await TestClient.post(
            server, "/v1/completions",
            [
                "model": "llama-3-8b", "prompt": "a b c d e f g", "max_tokens": 5, "stream": true,
                "stream_options": ["include_usage": true], "ignore_eos": true, "min_tokens": 5,
            ])
        XCTAssertEqual(result.status, 200)
        XCTAssertTrue(result.complete)
        XCTAssertEqual(result.headers["content-type"], "text/event-stream")
        let id = try XCTUnwrap(result.headers["x-request-id"])
        // Every event is `data: ...` followed by a blank line, nothing else.
        XCTAssertEqual(result.body.components(separatedBy: "\n\n").dropLast().filter { !$0.hasPrefix("data: ") }, [])
        XCTAssertTrue(result.body.hasSuffix("data: [DONE]\n\n"))
        XCTAssertEqual(result.events.count, 5 + 1 + 1)
        let objects = result.eventObjects
        for k in 0..<5 {
            let object = try XCTUnwrap(objects.element(at: k))
            XCTAssertEqual(object["id"] as? String, id)
            XCTAssertEqual(object["object"] as? String, "text_completion")
            let choice = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first)
            XCTAssertEqual(choice["text"] as? String, SimTokenizer.outputText(k))
            XCTAssertEqual(choice["finish_reason"] as? String, k == 4 ? "length" : nil)
            XCTAssertTrue(object["usage"] is NSNull)
        }
        let usageChunk = try XCTUnwrap(objects.element(at: 5))
        XCTAssertEqual((usageChunk["choices"] as? [Any])?.count, 0)
        let usage = try XCTUnwrap(usageChunk["usage"] as? [String: Int])
        XCTAssertEqual(usage, ["prompt_tokens": 8, "completion_tokens": 5, "total_tokens": 13])
        XCTAssertEqual(try result.events.element(at: 6).data, "[DONE]")
        try await server.stop()
    }

    /// vLLM's `continuous_usage_stats`: the cumulative usage in every chunk, the role chunk's at 0.
    func testContinuousUsageStatsPutTheCountInEveryChunk() async throws {
        let server = try await start()
        let result = try await TestClient.post(
            server, "/v1/chat/completions",
            [
                "model": "llama-3-8b", "messages": [["role": "user", "content": "hi"]], "max_tokens": 4, "stream": true,
                "stream_options": ["include_usage": true, "continuous_usage_stats": true],
            ])
        XCTAssertEqual(result.status, 200)
        let objects = result.eventObjects.compactMap { $0 }
        XCTAssertEqual(objects.count, 1 + 4 + 1, "role chunk, four tokens, final usage")
        let counts = objects.map { ($0["usage"] as? [String: Int])?["completion_tokens"] }
        XCTAssertEqual(counts, [0, 1, 2, 3, 4, 4])
        let usage = try XCTUnwrap(objects[2]["usage"] as? [String: Int])
        XCTAssertEqual(usage["total_tokens"], (usage["prompt_tokens"] ?? 0) + 2)

        // Without include_usage the option asks for nothing.
        let plain = try await TestClient.post(
            server, "/v1/completions",
            ["model": "llama-3-8b", "prompt": "a b", "max_tokens": 2, "stream": true, "stream_options": ["continuous_usage_stats": true]])
        XCTAssertFalse(plain.body.contains("\"usage\""))
        try await server.stop()
    }

    func testChatStreamStartsWithARoleOnlyChunk() async throws {
        let server = try await start()
        let result = try await TestClient.post(
            server, "/v1/chat/completions",
            ["model": "llama-3-8b", "messages": [["role": "user", "content": "hi"]], "max_tokens": 3, "stream": true])
        XCTAssertEqual(result.status, 200)
        let first = try XCTUnwrap(result.eventObjects.first ?? nil)
        let delta = try XCTUnwrap(((first["choices"] as? [[String: Any]])?.first)?["delta"] as? [String: Any])
        XCTAssertEqual(delta["role"] as? String, "assistant")
        XCTAssertEqual(delta["content"] as? String, "")
        XCTAssertEqual(result.contentEvents.count, 3)
        XCTAssertEqual(result.events.last?.data, "[DONE]")
        XCTAssertFalse(result.body.contains("\"usage\""), "no usage without include_usage")
        try await server.stop()
    }

    func testChatStreamsReasoningTokensBeforeTheAnswerWithinMaxTokens() async throws {
        let server = try await start(reasoningTokens: .fixed(3))
        let chat = try await TestClient.post(
            server, "/v1/chat/completions",
            ["messages": [["role": "user", "content": "hi"]], "max_tokens": 5, "stream": true,
             "stream_options": ["include_usage": true]])
        let deltas = chat.eventObjects.compactMap { ($0?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
        XCTAssertEqual(deltas.count, 6, "the role chunk and 5 tokens")
        XCTAssertEqual(deltas.dropFirst().map { $0["reasoning_content"] != nil }, [true, true, true, false, false])
        XCTAssertEqual(deltas.dropFirst().map { $0["content"] != nil }, [false, false, false, true, true])
        let usage = try XCTUnwrap(chat.eventObjects.compactMap { $0?["usage"] as? [String: Int] }.last)
        XCTAssertEqual(usage["completion_tokens"], 5, "reasoning tokens are output tokens")

        // Completions has one text field: every token is text.
        let completion = try await TestClient.post(server, "/v1/completions", ["prompt": [5, 6], "max_tokens": 4, "stream": true])
        XCTAssertEqual(completion.contentEvents.count, 4)
        XCTAssertFalse(completion.body.contains("reasoning"))

        // Cut off while reasoning: no answer, as a real server at max_tokens.
        let whole = try await TestClient.post(
            server, "/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "max_tokens": 2])
        let message = try XCTUnwrap(((whole.json?["choices"] as? [[String: Any]])?.first)?["message"] as? [String: Any])
        XCTAssertEqual(SimTokenizer.count(try XCTUnwrap(message["reasoning_content"] as? String)), 2)
        XCTAssertTrue(message["content"] is NSNull)
        try await server.stop()
    }

    func testReasoningLengthsAreSeeded() async throws {
        func lengths() async throws -> [Int] {
            let server = try await start(reasoningTokens: .uniform(min: 0, max: 6))
            var out: [Int] = []
            for _ in 0..<8 {
                let r = try await TestClient.post(
                    server, "/v1/chat/completions",
                    ["messages": [["role": "user", "content": "hi"]], "max_tokens": 8, "stream": true])
                out.append(r.body.components(separatedBy: "\"reasoning_content\"").count - 1)
            }
            try await server.stop()
            return out
        }
        let first = try await lengths(), second = try await lengths()
        XCTAssertEqual(first, second)
        XCTAssertGreaterThan(Set(first).count, 1, "drawn, not fixed: \(first)")
        XCTAssertTrue(first.allSatisfy { (0...6).contains($0) }, "\(first)")
    }

    func testNonStreamingResponsesCarryUsage() async throws {
        let server = try await start()
        let completion = try await TestClient.post(
            server, "/v1/completions", ["prompt": [5, 6, 7, 8], "max_tokens": 4])
        XCTAssertEqual(completion.status, 200)
        let json = try XCTUnwrap(completion.json)
        XCTAssertEqual(json["id"] as? String, completion.headers["x-request-id"])
        XCTAssertEqual(json["object"] as? String, "text_completion")
        XCTAssertEqual(json["usage"] as? [String: Int], ["prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8])
        let text = try XCTUnwrap(((json["choices"] as? [[String: Any]])?.first)?["text"] as? String)
        XCTAssertEqual(SimTokenizer.count(text), 4)

        let chat = try await TestClient.post(
            server, "/v1/chat/completions",
            ["messages": [["role": "system", "content": "be brief"], ["role": "user", "content": "hi"]]])
        let chatJSON = try XCTUnwrap(chat.json)
        XCTAssertEqual(chatJSON["object"] as? String, "chat.completion")
        let message = try XCTUnwrap(((chatJSON["choices"] as? [[String: Any]])?.first)?["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")
        let usage = try XCTUnwrap(chatJSON["usage"] as? [String: Int])
        XCTAssertEqual(usage["prompt_tokens"], 1 + (2 + 4) + (1 + 4) + 3)
        XCTAssertEqual(usage["completion_tokens"], 16, "max_tokens defaults to 16")
        try await server.stop()
    }

    func testErrorsAreOpenAIStyleJSON() async throws {
        let server = try await start()
        func error(_ result: HTTPResult) throws -> [String: Any] {
            try XCTUnwrap(result.json?["error"] as? [String: Any], result.body)
        }
        let unknown = try await TestClient.post(server, "/v1/completions", ["model": "gpt-4", "prompt": "x"])
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(try error(unknown)["code"] as? String, "model_not_found")
        XCTAssertEqual(try error(unknown)["type"] as? String, "invalid_request_error")
        XCTAssertTrue((try error(unknown)["message"] as? String)?.contains("gpt-4") ?? false)

        let badJSON = try await TestClient.request(server, .POST, "/v1/completions", body: "{\"prompt\": ")
        XCTAssertEqual(badJSON.status, 400)
        XCTAssertEqual(try error(badJSON)["code"] as? String, "invalid_json")

        let tooLong = try await TestClient.post(
            server, "/v1/completions", ["prompt": [Int](repeating: 1, count: 8000), "max_tokens": 500])
        XCTAssertEqual(tooLong.status, 400)
        XCTAssertEqual(try error(tooLong)["code"] as? String, "context_length_exceeded")

        let zero = try await TestClient.post(server, "/v1/completions", ["prompt": "x", "max_tokens": 0])
        XCTAssertEqual(zero.status, 400)
        let noMessages = try await TestClient.post(server, "/v1/chat/completions", ["messages": []])
        XCTAssertEqual(noMessages.status, 400)
        // The name matches ignoring case and punctuation.
        let loose = try await TestClient.post(server, "/v1/completions", ["model": "Llama-3-8B", "prompt": "x", "max_tokens": 1])
        XCTAssertEqual(loose.status, 200)
        try await server.stop()
    }

    func testTruthLogRecordsEveryTokenAtItsSendTime() async throws {
        let path = temporaryPath("truth.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try await start(truthLog: path)
        async let a = TestClient.post(server, "/v1/completions", ["prompt": "a b", "max_tokens": 6, "stream": true])
        async let b = TestClient.request(
            server, .POST, "/v1/completions", body: "{\"prompt\": \"c d e\", \"max_tokens\": 4, \"stream\": true}",
            headers: [("x-request-id", "client-chosen-7")])
        let results = try await [a, b]
        try await server.stop()
        XCTAssertEqual(results[1].headers["x-request-id"], "client-chosen-7")

        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.first, "request_id,emission_time_s")
        var times: [String: [Double]] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",")
            guard fields.count == 2 else { return XCTFail("expected request_id,emission_time_s, got '\(line)'") }
            times[String(fields[0]), default: []].append(try XCTUnwrap(Double(fields[1])))
        }
        for result in results {
            let id = try XCTUnwrap(result.headers["x-request-id"])
            let logged = try XCTUnwrap(times[id])
            let received = result.contentEvents.map(\.time)
            XCTAssertEqual(logged.count, received.count)
            XCTAssertEqual(logged, logged.sorted())
            // Same clock: each token is logged after the request was sent and before the client read it.
            XCTAssertGreaterThan(try logged.element(at: 0), result.sentAt)
            for (sent, got) in zip(logged, received) { XCTAssertLessThanOrEqual(sent, got) }
        }
    }

    func testErrorFaultIsRandomAndSeeded() async throws {
        var faults = FaultConfig()
        faults.errorRate = 1
        func statuses() async throws -> [Int] {
            let server = try await start(faults: faults)
            var out: [Int] = []
            for _ in 0..<12 {
                let r = try await TestClient.post(server, "/v1/completions", ["prompt": "x", "stream": true])
                out.append(r.status)
                XCTAssertNotNil((r.json?["error"] as? [String: Any])?["message"], r.body)
                XCTAssertNotNil(r.headers["x-request-id"])
            }
            try await server.stop()
            return out
        }
        let first = try await statuses(), second = try await statuses()
        XCTAssertTrue(Set(first).isSubset(of: [429, 500, 503]))
        XCTAssertGreaterThan(Set(first).count, 1, "the status is chosen at random")
        XCTAssertEqual(first, second, "the same seed gives the same faults")
    }

    func testPartialFaultRateHitsSomeRequests() async throws {
        var faults = FaultConfig()
        faults.noDoneRate = 0.5
        let server = try await start(faults: faults)
        var withDone = 0
        for _ in 0..<20 {
            let r = try await TestClient.post(server, "/v1/completions", ["prompt": "x", "max_tokens": 1, "stream": true])
            XCTAssertTrue(r.complete)
            if r.events.last?.data == "[DONE]" { withDone += 1 }
        }
        XCTAssertGreaterThan(withDone, 0)
        XCTAssertLessThan(withDone, 20)
        try await server.stop()
    }

    func testDisconnectFault() async throws {
        var faults = FaultConfig()
        faults.disconnectRate = 1
        let server = try await start(faults: faults)
        let r = try await TestClient.post(server, "/v1/completions", ["prompt": "x", "max_tokens": 10, "stream": true])
        XCTAssertEqual(r.status, 200)
        XCTAssertFalse(r.complete)
        XCTAssertEqual(r.contentEvents.count, 5)
        XCTAssertFalse(r.body.contains("[DONE]"))
        // The engine dropped the request.
        let stats = try await server.statistics()
        XCTAssertEqual(stats.running + stats.waiting, 0)
        try await server.stop()
    }

    func testStallFault() async throws {
        var faults = FaultConfig()
        faults.stallRate = 1
        faults.stallSeconds = 0.3
        let path = temporaryPath("stall.csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try await start(faults: faults, truthLog: path)
        let r = try await TestClient.post(server, "/v1/completions", ["prompt": "x", "max_tokens": 8, "stream": true])
        try await server.stop()
        XCTAssertTrue(r.complete)
        XCTAssertEqual(r.contentEvents.count, 8)
        XCTAssertEqual(r.events.last?.data, "[DONE]")
        // The server's own send times, so a slow client read cannot hide or fake the stall.
        let sent = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst()
            .compactMap { $0.split(separator: ",").last.flatMap { Double($0) } }
        XCTAssertEqual(sent.count, 8)
        XCTAssertGreaterThanOrEqual(try sent.element(at: 4) - sent.element(at: 3), 0.3)
    }

    func testMalformedFault() async throws {
        var faults = FaultConfig()
        faults.malformedRate = 1
        let server = try await start(faults: faults)
        let r = try await TestClient.post(server, "/v1/completions", ["prompt": "x", "max_tokens": 4, "stream": true])
        XCTAssertTrue(r.complete)
        let unparsable = zip(r.events, r.eventObjects).filter { $0.1 == nil && $0.0.data != "[DONE]" }
        XCTAssertEqual(unparsable.count, 1)
        XCTAssertEqual(r.contentEvents.count, 4)
        let plain = try await TestClient.post(server, "/v1/completions", ["prompt": "x", "max_tokens": 4])
        XCTAssertEqual(plain.status, 200)
        XCTAssertNil(plain.json, "the body is cut short")
        try await server.stop()
    }

    func testNoDoneFault() async throws {
        var faults = FaultConfig()
        faults.noDoneRate = 1
        let server = try await start(faults: faults)
        let r = try await TestClient.post(server, "/v1/chat/completions", [
            "messages": [["role": "user", "content": "x"]], "max_tokens": 3, "stream": true,
        ])
        XCTAssertTrue(r.complete)
        XCTAssertEqual(r.contentEvents.count, 3)
        XCTAssertFalse(r.body.contains("[DONE]"))
        try await server.stop()
    }

    func testSlowHeadersFault() async throws {
        var faults = FaultConfig()
        faults.slowHeadersRate = 1
        faults.slowHeadersSeconds = 0.3
        let server = try await start(faults: faults)
        let r = try await TestClient.post(server, "/v1/completions", ["prompt": "x", "max_tokens": 2, "stream": true])
        XCTAssertEqual(r.status, 200)
        XCTAssertGreaterThanOrEqual(r.headAt - r.sentAt, 0.3)
        XCTAssertEqual(r.contentEvents.count, 2)
        try await server.stop()
    }

    func testMetricsShowRunningRequestsAndCacheUse() async throws {
        let server = try await start(overhead: 0.05)
        async let long = TestClient.post(server, "/v1/completions", ["prompt": "x y z", "max_tokens": 40, "stream": true])
        var running = 0
        var sawCache = false
        for _ in 0..<100 where running == 0 {
            try await Task.sleep(nanoseconds: 20_000_000)
            let metrics = try await TestClient.request(server, .GET, "/metrics").body
            running = metrics.contains("vllm:num_requests_running{model_name=\"llama-3-8b\"} 1") ? 1 : 0
            sawCache = !metrics.contains("vllm:gpu_cache_usage_perc{model_name=\"llama-3-8b\"} 0.0\n")
        }
        XCTAssertEqual(running, 1)
        XCTAssertTrue(sawCache)
        _ = try await long
        try await server.stop()
    }

    func testInvalidOptionsAreReportedTogether() async throws {
        var faults = FaultConfig()
        faults.errorRate = 1.5
        let config = SimulatorConfig(hardware: .h100, model: .llama3_70b, tensorParallel: 1)
        do {
            _ = try await SimulatorServer.start(SimulatorServerOptions(simulator: config, port: 70000, faults: faults))
            XCTFail("should not start")
        } catch {
            let text = "\(error)"
            XCTAssertTrue(text.contains("no room for a KV cache"), text)
            XCTAssertTrue(text.contains("--error-rate"), text)
            XCTAssertTrue(text.contains("port"), text)
        }
    }
}
