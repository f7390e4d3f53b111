import Foundation
import MetronModel
import MetronTestSupport
import Synchronization
import XCTest
@testable import MetronLoad

final class EngineTests: XCTestCase {
    private func withServer(_ responder: @escaping ScriptedServer.Responder,
                            _ body: (ScriptedServer) async throws -> Void) async throws {
        let server = try await ScriptedServer(responder: responder)
        do { try await body(server) } catch { await server.shutdown(); throw error }
        await server.shutdown()
    }

    private func run(
        _ server: ScriptedServer, api: APIKind = .completions, plan: [PlannedRequest] = [PlannedRequest(id: 0, arrival: 0, promptTokens: 16, outputTokens: 4)],
        options: LoadOptions = LoadOptions(calibrationWakeups: 5), headers: [String] = [], apiKey: String? = nil
    ) async throws -> LoadResult {
        let target = ServerTarget(url: server.url, api: api, model: "test-model", headers: headers, apiKey: apiKey)
        let generator = LoadGenerator(target: target, prompts: PromptBuilder(tokensPerWord: 1), options: options)
        let result = try await generator.run(plan: plan)
        XCTAssertEqual(result.records.map(\.id), plan.map(\.id).sorted(), "one record per planned request")
        return result
    }

    private func single(_ server: ScriptedServer, api: APIKind = .completions, options: LoadOptions = LoadOptions(calibrationWakeups: 5)) async throws -> RequestRecord {
        try await run(server, api: api, options: options).records.element(at: 0)
    }

    func testCompletionsStreamIsRecordedWithHeadersAndBody() async throws {
        try await withServer({ _ in
            ScriptedServer.stream([Events.text(), Events.text(), Events.text(), Events.usage(prompt: 11, completion: 3), Events.done], gap: 0.05)
        }) { server in
            let result = try await run(server, headers: ["X-Trace: abc"], apiKey: "sk-test")
            let r = try result.records.element(at: 0)
            XCTAssertEqual(r.status, .ok, r.error ?? "")
            XCTAssertEqual(r.httpStatus, 200)
            XCTAssertEqual(r.chunkTokens, [1, 1, 1])
            XCTAssertEqual(r.tokenRule, .apportionedByText)
            XCTAssertEqual(r.promptTokens, 11)
            XCTAssertEqual(r.outputTokens, 3)
            XCTAssertEqual(r.requestedOutputTokens, 4)
            let sent = try XCTUnwrap(r.sentS)
            XCTAssertGreaterThanOrEqual(sent, r.scheduledS)
            XCTAssertEqual(r.chunkTimesS, r.chunkTimesS.sorted())
            XCTAssertGreaterThanOrEqual(try r.chunkTimesS.element(at: 2) - r.chunkTimesS.element(at: 0), 0.1, "the server waited 50 ms between chunks")
            XCTAssertEqual(result.calibrationLateness.count, 5)

            let request = try XCTUnwrap(server.requests.first)
            XCTAssertEqual(request.method, "POST")
            XCTAssertEqual(request.path, "/v1/completions")
            XCTAssertNil(request.headers["expect"], "an empty Expect: header suppresses 100-continue")
            XCTAssertEqual(request.headers["authorization"], "Bearer sk-test")
            XCTAssertEqual(request.headers["x-trace"], "abc")
            XCTAssertEqual(request.headers["content-type"], "application/json")
            let body = request.json
            XCTAssertEqual(body["model"] as? String, "test-model")
            XCTAssertEqual(body["max_tokens"] as? Int, 4)
            XCTAssertEqual(body["stream"] as? Bool, true)
            XCTAssertEqual((body["stream_options"] as? [String: Any])?["include_usage"] as? Bool, true)
            XCTAssertEqual(requestID(request), 0)
        }
    }

    /// A role-only first chunk at once, keep-alive comments, event lines, CRLF, several events in
    /// one write, one event split across two writes, usage inside the last content chunk.
    func testChatStreamShapesAndTTFTAtFirstContent() async throws {
        let contentA = Events.content("a").replacingOccurrences(of: "\n", with: "\r\n")
        let lastWithUsage = #"data: {"choices":[{"index":0,"delta":{"content":"!"}}],"usage":{"prompt_tokens":9,"completion_tokens":7}}"# + "\n\n"
        try await withServer({ _ in
            [
                ScriptedServer.head(),
                ScriptedServer.chunk(Events.role + ": keep-alive\n\n"),
                .sleep(0.2),
                ScriptedServer.chunk("event: message\n" + contentA + Events.content("b")),
                .sleep(0.05),
                ScriptedServer.chunk(#"data: {"choices":[{"index":0,"delta":"#),
                .sleep(0.05),
                ScriptedServer.chunk(#"{"content":"c"}}]}"# + "\r\n\r\n: ping\r\n\r\n"),
                .sleep(0.05),
                ScriptedServer.chunk(lastWithUsage + Events.done),
                ScriptedServer.lastChunk,
            ]
        }) { server in
            let r = try await single(server, api: .chat)
            XCTAssertEqual(r.status, .ok, r.error ?? "")
            XCTAssertEqual(r.chunkTokens, [2, 2, 2, 1], "the usage of the last chunk is spread over the four one-letter chunks")
            XCTAssertEqual(r.tokenRule, .apportionedByText)
            XCTAssertEqual(r.outputTokens, 7)
            XCTAssertEqual(r.promptTokens, 9)
            let sent = try XCTUnwrap(r.sentS)
            guard r.chunkTimesS.count == 4 else { return XCTFail("expected 4 content chunks, got \(r.chunkTimesS)") }
            XCTAssertGreaterThanOrEqual(r.chunkTimesS[0] - sent, 0.2, "TTFT is taken at the first content chunk, not the role chunk")
            XCTAssertEqual(r.chunkTimesS[0], r.chunkTimesS[1], "two events of one read share its timestamp")
            XCTAssertGreaterThanOrEqual(r.chunkTimesS[2] - r.chunkTimesS[1], 0.1, "a split event completes with its second read")
            XCTAssertEqual(server.requests.first?.path, "/v1/chat/completions")
        }
    }

    /// Reasoning under both names, a chunk carrying reasoning and answer, the answer: TTFT at the
    /// first reasoning token, the first output token at the mixed chunk.
    func testChatReasoningIsRecordedApartFromTheAnswer() async throws {
        let mixed = #"data: {"choices":[{"index":0,"delta":{"reasoning_content":"ok.","content":"Yes"}}]}"# + "\n\n"
        try await withServer({ _ in
            [
                ScriptedServer.head(),
                ScriptedServer.chunk(Events.role),
                .sleep(0.05),
                ScriptedServer.chunk(Events.reasoning("Let")),
                .sleep(0.05),
                ScriptedServer.chunk(Events.reasoning("me", key: "reasoning")),
                .sleep(0.1),
                ScriptedServer.chunk(mixed),
                .sleep(0.05),
                ScriptedServer.chunk(Events.content("!") + Events.usage(prompt: 5, completion: 6) + Events.done),
                ScriptedServer.lastChunk,
            ]
        }) { server in
            let r = try await single(server, api: .chat)
            XCTAssertEqual(r.status, .ok, r.error ?? "")
            XCTAssertEqual(r.chunkTokens, [1, 1, 3, 1])
            XCTAssertEqual(r.chunkReasoningTokens, [1, 1, 2, 0], "the mixed chunk's 3 tokens split by its 3 : 3 characters")
            XCTAssertEqual(r.reasoningTokens, 4)
            guard r.chunkTimesS.count == 4 else { return XCTFail("expected 4 content chunks, got \(r.chunkTimesS)") }
            XCTAssertEqual(r.firstOutputS, r.chunkTimesS[2])
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(r.firstOutputS) - r.chunkTimesS[0], 0.15, "TTFT is the first reasoning token")
            XCTAssertEqual(r.visibleTimeline.chunkTokens, [1, 1])
        }
    }

    func testServerThatNeverSendsDone() async throws {
        try await withServer({ _ in ScriptedServer.stream([Events.text(), Events.text()]) }) { server in
            let r = try await single(server)
            XCTAssertEqual(r.status, .ok, r.error ?? "")
            XCTAssertEqual(r.chunkTokens, [1, 1])
            XCTAssertEqual(r.outputTokens, 2)
            XCTAssertEqual(r.tokenRule, .onePerChunk)
            XCTAssertNil(r.promptTokens)
        }
    }

    func testStreamClosedAfterLastEventWithoutBlankLine() async throws {
        let events = Events.text() + String(Events.text().dropLast(2))
        try await withServer({ _ in [ScriptedServer.head(chunked: false), .bytes(Array(events.utf8))] }) { server in
            let r = try await single(server)
            XCTAssertEqual(r.status, .ok, r.error ?? "")
            XCTAssertEqual(r.chunkTokens, [1, 1])
        }
    }

    func testHTTPErrorsKeepStatusAndBody() async throws {
        let answers: [Int: (Int, String)] = [
            0: (429, #"{"error":{"message":"rate limited","type":"rate_limit"}}"#),
            1: (500, #"{"error":{"message":"internal failure"}}"#),
            2: (503, #"{"object":"error","message":"no capacity","code":503}"#),
        ]
        try await withServer({ request in
            let (status, body) = answers[requestID(request) ?? 0] ?? (400, "unexpected request")
            return ScriptedServer.json(status: status, body)
        }) { server in
            let plan = (0..<3).map { PlannedRequest(id: $0, arrival: Double($0) * 0.01, promptTokens: 8, outputTokens: 4) }
            let records = try await run(server, plan: plan).records
            for r in records {
                let (status, text) = try XCTUnwrap(answers[r.id])
                XCTAssertEqual(r.status, .httpError)
                XCTAssertEqual(r.httpStatus, status)
                XCTAssertTrue(r.error?.contains("HTTP \(status)") == true, r.error ?? "")
                XCTAssertTrue(r.error?.contains(text) == true, r.error ?? "")
                XCTAssertTrue(r.chunkTimesS.isEmpty)
            }
        }
    }

    func testRecordsHandedOverAsTheyFinishAreNotKept() async throws {
        try await withServer({ request in
            // Request 0 streams for a while; the others finish at once, so they are handed over first.
            ScriptedServer.stream([Events.text(), Events.done], gap: requestID(request) == 0 ? 1 : 0)
        }) { server in
            let plan = (0..<6).map { PlannedRequest(id: $0, arrival: Double($0) * 0.01, promptTokens: 4, outputTokens: 1) }
            let handed = Mutex<[[RequestRecord]]>([])
            let generator = LoadGenerator(target: ServerTarget(url: server.url, model: "m"), prompts: PromptBuilder(tokensPerWord: 1),
                                          options: LoadOptions(calibrationWakeups: 5))
            let result = try await generator.run(plan: plan, onRecords: { batch in handed.withLock { $0.append(batch) } })
            XCTAssertTrue(result.records.isEmpty, "records handed over are not kept")
            let records = handed.withLock { $0 }.flatMap { $0 }
            XCTAssertEqual(records.map(\.id).sorted(), plan.map(\.id), "each record handed over exactly once")
            XCTAssertEqual(records.last?.id, 0, "in the order they finished")
            XCTAssertTrue(records.allSatisfy { $0.status == .ok }, "\(records.map(\.status))")
            XCTAssertGreaterThan(handed.withLock { $0.count }, 1, "in more than one batch")
        }
    }

    func testConnectionRefused() async throws {
        let server = try await ScriptedServer { _ in [] }
        let url = server.url
        await server.shutdown()
        let generator = LoadGenerator(target: ServerTarget(url: url, model: "m"), options: LoadOptions(calibrationWakeups: 0))
        let r = try await generator.run(plan: [PlannedRequest(id: 0, arrival: 0, promptTokens: 4, outputTokens: 4)]).records.element(at: 0)
        XCTAssertEqual(r.status, .connectionError)
        XCTAssertNil(r.httpStatus)
        XCTAssertNotNil(r.sentS)
        XCTAssertTrue(r.error?.contains("curl error 7") == true, r.error ?? "")
    }

    /// A listening socket whose accept queue is full drops new SYNs, so the connect never completes.
    func testConnectTimeout() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 0) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        XCTAssertTrue(bound)
        var fillers: [Int32] = []
        defer { (fillers + [listener]).forEach { close($0) } }
        for _ in 0..<3 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) }
            }
            fillers.append(filler)
        }
        usleep(100_000)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let generator = LoadGenerator(
            target: ServerTarget(url: "http://127.0.0.1:\(port)", model: "m"),
            options: LoadOptions(timeouts: RequestTimeouts(connect: 0.3), calibrationWakeups: 0))
        let r = try await generator.run(plan: [PlannedRequest(id: 0, arrival: 0, promptTokens: 4, outputTokens: 4)]).records.element(at: 0)
        XCTAssertEqual(r.status, .timeout)
        XCTAssertTrue(r.error?.contains("connect timeout") == true, r.error ?? "")
        XCTAssertNil(r.httpStatus)
    }

    func testMidStreamDisconnect() async throws {
        try await withServer({ _ in
            [ScriptedServer.head(), ScriptedServer.chunk(Events.text()), ScriptedServer.chunk(Events.text()), .sleep(0.05), .close]
        }) { server in
            let r = try await single(server)
            XCTAssertEqual(r.status, .streamError)
            XCTAssertEqual(r.httpStatus, 200)
            XCTAssertEqual(r.chunkTokens, [1, 1], "chunks before the break are kept")
            XCTAssertTrue(r.error?.contains("stream broke after 2 content chunks") == true, r.error ?? "")
        }
    }

    func testFirstTokenTimeout() async throws {
        try await withServer({ _ in
            [ScriptedServer.head(), ScriptedServer.chunk(Events.role), .sleep(5), ScriptedServer.chunk(Events.text())]
        }) { server in
            let options = LoadOptions(timeouts: RequestTimeouts(firstToken: 0.3), calibrationWakeups: 0)
            let started = Date()
            let r = try await single(server, options: options)
            XCTAssertEqual(r.status, .timeout)
            XCTAssertTrue(r.error?.contains("first-token timeout") == true, r.error ?? "")
            XCTAssertTrue(r.chunkTimesS.isEmpty)
            XCTAssertLessThan(Date().timeIntervalSince(started), 4, "the engine ended the request itself")
        }
    }

    func testTotalTimeoutKeepsChunksSoFar() async throws {
        try await withServer({ _ in ScriptedServer.stream(Array(repeating: Events.text(), count: 30), gap: 0.1) }) { server in
            let options = LoadOptions(timeouts: RequestTimeouts(total: 0.5), calibrationWakeups: 0)
            let r = try await single(server, options: options)
            XCTAssertEqual(r.status, .timeout)
            XCTAssertTrue(r.error?.contains("total timeout") == true, r.error ?? "")
            XCTAssertFalse(r.chunkTimesS.isEmpty)
            XCTAssertLessThan(r.chunkTimesS.count, 30)
        }
    }

    func testMalformedChunk() async throws {
        try await withServer({ _ in ScriptedServer.stream([Events.text(), "data: {\"choices\":[{\"text\"\n\n", Events.text(), Events.done]) }) { server in
            let r = try await single(server)
            XCTAssertEqual(r.status, .streamError)
            XCTAssertTrue(r.error?.contains("malformed chunk") == true, r.error ?? "")
        }
    }

    func testErrorEventInsideStream() async throws {
        try await withServer({ _ in
            ScriptedServer.stream([Events.text(), #"data: {"error":{"message":"engine died"}}"# + "\n\n", Events.done])
        }) { server in
            let r = try await single(server)
            XCTAssertEqual(r.status, .streamError)
            XCTAssertTrue(r.error?.contains("engine died") == true, r.error ?? "")
        }
    }

    func testSuccessWithoutAnyContentIsAStreamError() async throws {
        try await withServer({ _ in ScriptedServer.stream([Events.role, Events.usage(prompt: 3, completion: 0), Events.done]) }) { server in
            let r = try await single(server)
            XCTAssertEqual(r.status, .streamError)
            XCTAssertTrue(r.error?.contains("without a content chunk") == true, r.error ?? "")
            XCTAssertEqual(r.promptTokens, 3)
        }
    }

    func testServerIgnoringStreamIsAStreamErrorShowingTheBody() async throws {
        try await withServer({ _ in
            ScriptedServer.json(status: 200, #"{"choices":[{"text":"whole answer"}],"usage":{"completion_tokens":2}}"#)
        }) { server in
            let r = try await single(server)
            XCTAssertEqual(r.status, .streamError)
            XCTAssertTrue(r.error?.contains("not an event stream") == true, r.error ?? "")
            XCTAssertTrue(r.error?.contains("whole answer") == true, r.error ?? "")
        }
    }

    func testBoundedDrainCancelsOpenRequests() async throws {
        try await withServer({ _ in [ScriptedServer.head(), ScriptedServer.chunk(Events.text()), .sleep(10)] }) { server in
            let options = LoadOptions(timeouts: RequestTimeouts(total: 60), drainTimeout: 0.3, calibrationWakeups: 0)
            let r = try await single(server, options: options)
            XCTAssertEqual(r.status, .cancelled)
            XCTAssertTrue(r.error?.contains("final drain") == true, r.error ?? "")
            XCTAssertEqual(r.chunkTokens, [1])
        }
    }

    func testCancellingTheTaskRecordsEveryRequest() async throws {
        try await withServer({ _ in [ScriptedServer.head(), .sleep(10)] }) { server in
            let plan = (0..<4).map { PlannedRequest(id: $0, arrival: $0 < 2 ? 0 : 30, promptTokens: 4, outputTokens: 4) }
            let generator = LoadGenerator(target: ServerTarget(url: server.url, model: "m"), options: LoadOptions(calibrationWakeups: 0))
            let task = Task { try await generator.run(plan: plan) }
            try await Task.sleep(nanoseconds: 300_000_000)
            task.cancel()
            let records = try await task.value.records
            XCTAssertEqual(records.map(\.id), [0, 1, 2, 3])
            XCTAssertEqual(records.map(\.status), Array(repeating: .cancelled, count: 4))
            XCTAssertNotNil(try records.element(at: 0).sentS)
            XCTAssertNil(try records.element(at: 3).sentS, "a request never sent has no send time")
        }
    }

    func testInFlightCapHoldsRequestsBack() async throws {
        try await withServer({ _ in ScriptedServer.stream([Events.text(), Events.text()], gap: 0.05) }) { server in
            let plan = (0..<3).map { PlannedRequest(id: $0, arrival: 0, promptTokens: 4, outputTokens: 2) }
            let options = LoadOptions(maxInFlight: 1, calibrationWakeups: 0)
            let records = try await run(server, plan: plan, options: options).records
            XCTAssertEqual(records.map(\.status), [.ok, .ok, .ok])
            let bySend = records.sorted { ($0.sentS ?? 0) < ($1.sentS ?? 0) }
            for (a, b) in zip(bySend, bySend.dropFirst()) {
                XCTAssertGreaterThanOrEqual(try XCTUnwrap(b.sentS), try XCTUnwrap(a.chunkTimesS.last), "the next request waits for a free slot")
            }
        }
    }

    /// The server takes 1.4 s per request while requests arrive every 10 ms: they pile up, and
    /// still each is sent on schedule.
    func testOpenLoopWhenServerIsSlowerThanArrivals() async throws {
        try await withServer({ _ in
            [ScriptedServer.head(), .sleep(1.0), ScriptedServer.chunk(Events.text()), .sleep(0.2),
             ScriptedServer.chunk(Events.text()), .sleep(0.2), ScriptedServer.chunk(Events.text() + Events.done),
             ScriptedServer.lastChunk]
        }) { server in
            let plan = try WorkloadSpec(arrival: .constant, lengths: .distributions(prompt: .fixed(8), output: .fixed(3)))
                .plan(rate: 100, duration: 3)
            XCTAssertEqual(plan.count, 300)
            let records = try await run(server, plan: plan, options: LoadOptions(calibrationWakeups: 0)).records
            XCTAssertEqual(records.filter { $0.status == .ok }.count, 300, records.compactMap(\.error).first ?? "")
            let summary = RunSummary(records: records, targetRate: 100, deadlines: .referenceDefault)
            let achieved = try XCTUnwrap(summary.achievedRate), offered = try XCTUnwrap(summary.offeredRate)
            XCTAssertEqual(offered, 100, accuracy: 1e-6)
            XCTAssertEqual(achieved / offered, 1, accuracy: 0.01, "achieved \(achieved)/s for \(offered)/s")
            let t = 1.5
            let inFlight = records.filter { ($0.sentS ?? .infinity) <= t && ($0.chunkTimesS.last ?? 0) > t }.count
            XCTAssertGreaterThan(inFlight, 100, "requests piled up on the server instead of being held back")
        }
    }
}

final class CalibrationTests: XCTestCase {
    /// A server whose tokenizer counts 2 tokens per word plus 5.
    private static func count(_ text: String) -> Int { 2 * text.split(separator: " ").count + 5 }

    func testCalibrationUsesTokenizeWhenPresent() async throws {
        let server = try await ScriptedServer { request in
            guard request.path == "/tokenize", let prompt = request.json["prompt"] as? String else {
                return ScriptedServer.json(status: 404, #"{"detail":"Not Found"}"#)
            }
            return ScriptedServer.json(status: 200, #"{"count":\#(Self.count(prompt)),"tokens":[]}"#)
        }
        let calibration = try await Task.detached {
            try PromptCalibration.measure(target: ServerTarget(url: server.url + "/v1", model: "m"), shape: RequestShape())
        }.value
        await server.shutdown()
        XCTAssertEqual(calibration.method, .tokenize)
        XCTAssertEqual(calibration.builder.tokensPerWord, 2, accuracy: 1e-9)
        // "Request 0:" is two words: 5 + 2 x 2 tokens of overhead.
        XCTAssertEqual(calibration.builder.overheadTokens, 9, accuracy: 1e-9)
        let prompt = calibration.builder.prompt(id: 12, tokens: 1000)
        XCTAssertEqual(Double(Self.count(prompt)), 1000, accuracy: 2)
    }

    /// llama.cpp's /tokenize wants "content" and answers other bodies with an empty token list.
    func testCalibrationTriesLlamaCppTokenizeShape() async throws {
        let server = try await ScriptedServer { request in
            guard request.path == "/tokenize" else { return ScriptedServer.json(status: 404, "{}") }
            guard let content = request.json["content"] as? String else { return ScriptedServer.json(status: 200, #"{"tokens":[]}"#) }
            let tokens = (0..<Self.count(content)).map(String.init).joined(separator: ",")
            return ScriptedServer.json(status: 200, #"{"tokens":[\#(tokens)]}"#)
        }
        let calibration = try await Task.detached {
            try PromptCalibration.measure(target: ServerTarget(url: server.url, model: "m"), shape: RequestShape())
        }.value
        await server.shutdown()
        XCTAssertEqual(calibration.method, .tokenize)
        XCTAssertEqual(calibration.builder.tokensPerWord, 2, accuracy: 1e-9)
    }

    func testCalibrationFallsBackToUsage() async throws {
        let server = try await ScriptedServer { request in
            guard request.path == "/v1/chat/completions",
                  let content = (request.json["messages"] as? [[String: Any]])?.first?["content"] as? String
            else { return ScriptedServer.json(status: 404, #"{"detail":"Not Found"}"#) }
            XCTAssertEqual(request.json["max_tokens"] as? Int, 1)
            // A chat template adds 12 tokens; 1.5 tokens per word.
            let tokens = Int((Double(content.split(separator: " ").count) * 1.5).rounded()) + 12
            return ScriptedServer.stream([Events.content(), Events.usage(prompt: tokens, completion: 1), Events.done])
        }
        let calibration = try await Task.detached {
            try PromptCalibration.measure(target: ServerTarget(url: server.url, api: .chat, model: "m"), shape: RequestShape())
        }.value
        let requests = server.requests
        await server.shutdown()
        XCTAssertEqual(calibration.method, .usage)
        XCTAssertEqual(calibration.builder.tokensPerWord, 1.5, accuracy: 0.01)
        XCTAssertEqual(calibration.samples.map(\.first), PromptCalibration.sampleWords)
        XCTAssertTrue(requests.contains { $0.path == "/tokenize" }, "tokenize was tried first")
    }

    func testCalibrationFailureSaysWhatToDo() async throws {
        let server = try await ScriptedServer { _ in ScriptedServer.json(status: 500, #"{"error":"boom"}"#) }
        let url = server.url
        await XCTAssertThrowsErrorAsync(try await Task.detached {
            try PromptCalibration.measure(target: ServerTarget(url: url, model: "m"), shape: RequestShape())
        }.value) { error in
            XCTAssertTrue("\(error)".contains("HTTP 500"), "\(error)")
        }
        await server.shutdown()
    }
}

func XCTAssertThrowsErrorAsync<T: Sendable>(
    _ expression: @autoclosure () async throws -> T, _ check: (Error) -> Void, file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        _ = try await expression()
        XCTFail("expected an error", file: file, line: line)
    } catch {
        check(error)
    }
}
