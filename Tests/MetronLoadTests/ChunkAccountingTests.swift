import MetronModel
import XCTest
@testable import MetronLoad

final class ChunkScannerTests: XCTestCase {
    private func facts(_ text: String) -> ChunkFacts { ChunkScanner.scan(Array(text.utf8)) }

    func testDone() {
        XCTAssertEqual(facts("[DONE]").kind, .done)
        XCTAssertEqual(facts("  [DONE] \n").kind, .done)
    }

    func testCompletionsChunkWithText() {
        let f = facts(#"{"id":"c","object":"text_completion","choices":[{"index":0,"text":" the","logprobs":null,"finish_reason":null}],"usage":null}"#)
        XCTAssertEqual(f.kind, .chunk)
        XCTAssertTrue(f.hasContent)
        XCTAssertNil(f.completionTokens)
    }

    func testChatContentWithSpacesAroundColon() {
        XCTAssertTrue(facts(#"{"choices": [{"delta" : {"content" : "Hi"}}]}"#).hasContent)
    }

    func testRoleOnlyAndEmptyChunksCarryNoContent() {
        XCTAssertFalse(facts(#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#).hasContent)
        XCTAssertFalse(facts(#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#).hasContent)
        XCTAssertFalse(facts(#"{"choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}]}"#).hasContent)
        XCTAssertFalse(facts(#"{"choices":[{"index":0,"text":"","finish_reason":"length"}]}"#).hasContent)
    }

    func testReasoningUnderEitherNameIsContentApartFromVisibleText() {
        for key in ["reasoning_content", "reasoning"] {
            let f = facts(#"{"choices":[{"delta":{"\#(key)":"hmm","content":null}}]}"#)
            XCTAssertTrue(f.hasContent, key)
            XCTAssertEqual(f.contentLength, 3, key)
            XCTAssertEqual(f.reasoningLength, 3, key)
        }
        let visible = facts(#"{"choices":[{"delta":{"content":"Hi","reasoning_content":null}}]}"#)
        XCTAssertEqual(visible.reasoningLength, 0)
        XCTAssertEqual(visible.contentLength, 2)
        XCTAssertFalse(facts(#"{"choices":[{"delta":{"reasoning":"","content":""}}]}"#).hasContent)
    }

    func testMixedChunkCountsBothTextsAndReasoningSentTwiceOnce() {
        let mixed = facts(#"{"choices":[{"delta":{"reasoning_content":"abc","content":"de"}}]}"#)
        XCTAssertEqual(mixed.contentLength, 5)
        XCTAssertEqual(mixed.reasoningLength, 3)
        // A server sending the text under both names sends it once; a null first name does not hide the second.
        XCTAssertEqual(facts(#"{"choices":[{"delta":{"reasoning":"abcd","reasoning_content":"abcd"}}]}"#).reasoningLength, 4)
        XCTAssertEqual(facts(#"{"choices":[{"delta":{"reasoning_content":null,"reasoning":"ab"}}]}"#).reasoningLength, 2)
    }

    func testReasoningKeysInsideTextOrUsageAreNotReasoning() {
        let f = facts(#"{"choices":[{"delta":{"content":"say \"reasoning\": \"x\""}}],"usage":{"completion_tokens_details":{"reasoning_tokens":5}}}"#)
        XCTAssertEqual(f.reasoningLength, 0)
        XCTAssertTrue(f.hasContent)
    }

    func testContentLengthCountsCharactersAndEscapes() {
        XCTAssertEqual(facts(#"{"choices":[{"text":" tok tok"}]}"#).contentLength, 8)
        XCTAssertEqual(facts(#"{"choices":[{"delta":{"content":"a\n\"b\u00e9"}}]}"#).contentLength, 5)
        XCTAssertEqual(facts(#"{"choices":[{"text":"héé"}]}"#).contentLength, 3, "characters, not UTF-8 bytes")
        XCTAssertEqual(facts(#"{"choices":[{"text":""}]}"#).contentLength, 0)
    }

    func testUsageOnlyChunk() {
        let f = facts(#"{"choices":[],"usage":{"prompt_tokens":37,"completion_tokens":12,"total_tokens":49,"completion_tokens_details":null}}"#)
        XCTAssertEqual(f.kind, .chunk)
        XCTAssertFalse(f.hasContent)
        XCTAssertEqual(f.promptTokens, 37)
        XCTAssertEqual(f.completionTokens, 12)
        XCTAssertNil(f.cachedPromptTokens)
    }

    func testCachedPromptTokensOfAServerWithAPrefixCache() {
        let f = facts(#"{"choices":[],"usage":{"prompt_tokens":2049,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":1024}}}"#)
        XCTAssertEqual(f.cachedPromptTokens, 1024)
        XCTAssertEqual(f.promptTokens, 2049)
        var accounting = StreamAccounting()
        accounting.consume(f, at: 1)
        XCTAssertEqual(accounting.cachedPromptTokens, 1024)
        // Text mentioning the key is not the key.
        XCTAssertNil(facts(#"{"choices":[{"text":""cached_tokens": 5"}]}"#).cachedPromptTokens)
    }

    func testKeysInsideStringValuesAreNotKeys() {
        // The text mentions "usage" and "error" with escaped quotes: neither is a key.
        let f = facts(#"{"choices":[{"text":"say \"usage\": {\"completion_tokens\": 99} \"error\": 1"}]}"#)
        XCTAssertEqual(f.kind, .chunk)
        XCTAssertTrue(f.hasContent)
        XCTAssertNil(f.completionTokens)
    }

    func testErrorEvent() {
        guard case let .error(text) = facts(#"{"error":{"message":"out of memory","code":500}}"#).kind else {
            return XCTFail("expected an error")
        }
        XCTAssertTrue(text.contains("out of memory"))
        XCTAssertEqual(facts(#"{"error":null,"choices":[{"text":"a"}]}"#).kind, .chunk)
    }

    func testMalformed() {
        guard case .malformed = facts("{\"choices\":[{\"text\":\"a\"").kind else { return XCTFail("truncated JSON") }
        guard case .malformed = facts("hello").kind else { return XCTFail("plain text") }
    }
}

final class StreamAccountingTests: XCTestCase {
    private func content(_ usage: Int? = nil, length: Int = 3) -> ChunkFacts {
        ChunkFacts(kind: .chunk, hasContent: true, contentLength: length, completionTokens: usage)
    }

    func testFinalUsageIsSpreadOverTheChunksByTheirText() {
        var a = StreamAccounting()
        a.consume(ChunkFacts(kind: .chunk), at: 0.1) // role-only
        a.consume(content(length: 4), at: 0.2)
        a.consume(content(length: 4), at: 0.3)
        a.consume(content(length: 2), at: 0.4)
        a.consume(ChunkFacts(kind: .chunk, promptTokens: 20, completionTokens: 10), at: 0.5)
        a.consume(ChunkFacts(kind: .done), at: 0.5)
        XCTAssertEqual(a.chunkTimes, [0.2, 0.3, 0.4])
        XCTAssertEqual(a.chunkTokens, [4, 4, 2], "not [1, 1, 8]: the tokens came with the text")
        XCTAssertEqual(a.tokenRule, .apportionedByText)
        XCTAssertEqual(a.outputTokens, 10)
        XCTAssertEqual(a.promptTokens, 20)
        XCTAssertTrue(a.sawDone)
    }

    func testUsageInLastContentChunkCoversTheChunksBefore() {
        var a = StreamAccounting()
        a.consume(content(), at: 1)
        a.consume(content(), at: 2)
        a.consume(ChunkFacts(kind: .chunk, hasContent: true, contentLength: 3, promptTokens: 8, completionTokens: 6), at: 3)
        XCTAssertEqual(a.chunkTokens, [2, 2, 2])
        XCTAssertEqual(a.outputTokens, 6)
        XCTAssertEqual(a.tokenRule, .apportionedByText)
    }

    func testPerChunkCumulativeUsage() {
        var a = StreamAccounting()
        a.consume(ChunkFacts(kind: .chunk, promptTokens: 5, completionTokens: 0), at: 0.5) // role chunk with usage
        a.consume(content(2, length: 30), at: 1)
        a.consume(content(5, length: 1), at: 2)
        a.consume(content(6, length: 9), at: 3)
        a.consume(ChunkFacts(kind: .chunk, completionTokens: 6), at: 4)
        XCTAssertEqual(a.chunkTokens, [2, 3, 1], "the server's counts win over the text lengths")
        XCTAssertEqual(a.outputTokens, 6)
        XCTAssertEqual(a.tokenRule, .perChunkUsage)
    }

    func testUsageOnSomeChunksSpreadsEachCountOverItsOwnChunks() {
        var a = StreamAccounting()
        a.consume(content(length: 1), at: 1)
        a.consume(content(4, length: 3), at: 2) // covers both chunks so far: 1 and 3 by text
        a.consume(content(length: 5), at: 3)
        a.consume(ChunkFacts(kind: .chunk, completionTokens: 9), at: 4)
        XCTAssertEqual(a.chunkTokens, [1, 3, 5])
        XCTAssertEqual(a.tokenRule, .apportionedByText)
    }

    func testTokensReportedAfterTheLastCoveredChunkGoToIt() {
        var a = StreamAccounting()
        a.consume(content(1), at: 1)
        a.consume(content(2), at: 2)
        a.consume(ChunkFacts(kind: .chunk, completionTokens: 5), at: 3)
        XCTAssertEqual(a.chunkTokens, [1, 4])
        XCTAssertEqual(a.outputTokens, 5)
    }

    func testWithoutUsageEachChunkCountsOne() {
        var a = StreamAccounting()
        for t in 1...3 { a.consume(content(length: 7), at: Double(t)) }
        XCTAssertEqual(a.chunkTokens, [1, 1, 1])
        XCTAssertEqual(a.outputTokens, 3)
        XCTAssertEqual(a.tokenRule, .onePerChunk)
        XCTAssertNil(StreamAccounting().tokenRule, "no content chunk, no rule")
    }

    func testServerCountsFewerTokensThanChunks() {
        var a = StreamAccounting()
        for t in 1...4 { a.consume(content(), at: Double(t)) }
        a.consume(ChunkFacts(kind: .chunk, completionTokens: 3), at: 5)
        XCTAssertEqual(a.chunkTokens, [1, 1, 1, 1])
        XCTAssertEqual(a.outputTokens, 3)
    }

    func testApportionByLargestRemainderWithAtLeastOneEach() {
        XCTAssertEqual(StreamAccounting.apportion(40, weights: [16, 16, 16, 16, 16, 16, 16, 16, 16, 16]), Array(repeating: 4, count: 10))
        XCTAssertEqual(StreamAccounting.apportion(7, weights: [1, 1, 1, 1]), [2, 2, 2, 1], "ties go to the earlier chunk")
        XCTAssertEqual(StreamAccounting.apportion(10, weights: [1, 2, 7]), [1, 2, 7])
        XCTAssertEqual(StreamAccounting.apportion(5, weights: [100, 1, 1]), [3, 1, 1], "every chunk keeps one token")
        XCTAssertEqual(StreamAccounting.apportion(2, weights: [5, 5, 5]), [1, 1, 1], "fewer tokens than chunks")
        XCTAssertEqual(StreamAccounting.apportion(3, weights: []), [])
        for (total, weights) in [(17, [3, 0, 9, 1, 1]), (100, [1, 1, 98]), (9, [2, 2, 2, 2])] {
            let shares = StreamAccounting.apportion(total, weights: weights)
            XCTAssertEqual(shares.reduce(0, +), total)
            XCTAssertTrue(shares.allSatisfy { $0 >= 1 })
        }
    }

    func testReasoningTokensOfEachChunkFollowItsText() {
        var a = StreamAccounting()
        a.consume(ChunkFacts(kind: .chunk, hasContent: true, contentLength: 4, reasoningLength: 4), at: 1)
        a.consume(ChunkFacts(kind: .chunk, hasContent: true, contentLength: 4, reasoningLength: 4), at: 2)
        // Mixed: 6 reasoning and 2 visible characters.
        a.consume(ChunkFacts(kind: .chunk, hasContent: true, contentLength: 8, reasoningLength: 6), at: 3)
        a.consume(ChunkFacts(kind: .chunk, hasContent: true, contentLength: 4), at: 4)
        a.consume(ChunkFacts(kind: .chunk, promptTokens: 7, completionTokens: 20), at: 5)
        XCTAssertEqual(a.chunkTokens, [4, 4, 8, 4])
        XCTAssertEqual(a.chunkReasoningTokens, [4, 4, 6, 0])
    }

    func testMixedChunkOfOneTokenIsVisibleAndVisibleChunksBeforeReasoningStayVisible() {
        var a = StreamAccounting()
        a.consume(ChunkFacts(kind: .chunk, hasContent: true, contentLength: 2), at: 1)
        a.consume(ChunkFacts(kind: .chunk, hasContent: true, contentLength: 5, reasoningLength: 3), at: 2)
        a.consume(ChunkFacts(kind: .chunk, hasContent: true, contentLength: 3, reasoningLength: 3), at: 3)
        XCTAssertEqual(a.chunkTokens, [1, 1, 1])
        XCTAssertEqual(a.chunkReasoningTokens, [0, 0, 1])
    }

    func testNoReasoningLeavesNoReasoningArray() {
        var a = StreamAccounting()
        a.consume(ChunkFacts(kind: .chunk, hasContent: true, contentLength: 2), at: 1)
        XCTAssertNil(a.chunkReasoningTokens)
    }

    func testNothingCountsAfterDoneAndFirstErrorIsKept() {
        var a = StreamAccounting()
        a.consume(ChunkFacts(kind: .malformed("x")), at: 1)
        a.consume(ChunkFacts(kind: .error("y")), at: 1)
        a.consume(ChunkFacts(kind: .done), at: 2)
        a.consume(content(), at: 3)
        XCTAssertEqual(a.streamError, "malformed chunk: x")
        XCTAssertTrue(a.chunkTimes.isEmpty)
    }
}

final class RequestBuilderTests: XCTestCase {
    private func decode(_ bytes: [UInt8]) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func testCompletionsBody() throws {
        let target = ServerTarget(url: "http://h:1", model: "m")
        let body = try decode(RequestBuilder(target: target, shape: RequestShape()).body(prompt: "hi", maxTokens: 7))
        XCTAssertEqual(body["prompt"] as? String, "hi")
        XCTAssertEqual(body["max_tokens"] as? Int, 7)
        XCTAssertEqual(body["stream"] as? Bool, true)
        let options = try XCTUnwrap(body["stream_options"] as? [String: Any])
        XCTAssertEqual(options["include_usage"] as? Bool, true)
        XCTAssertEqual(options["continuous_usage_stats"] as? Bool, true, "usage in every chunk where the server offers it")
        XCTAssertNil(body["ignore_eos"])
        XCTAssertNil(body["messages"])

        let plain = try decode(RequestBuilder(target: target, shape: RequestShape(continuousUsage: false)).body(prompt: "hi", maxTokens: 7))
        XCTAssertEqual(plain["stream_options"] as? [String: Bool], ["include_usage": true], "for servers that reject the field")
    }

    func testChatBodyWithSwitchesAndExtraFieldsOverriding() throws {
        let target = ServerTarget(url: "http://h:1/v1", api: .chat, model: "m")
        let shape = RequestShape(ignoreEOS: true, minTokens: true, extraBody: #"{"temperature":0,"max_tokens":3}"#)
        let body = try decode(RequestBuilder(target: target, shape: shape).body(prompt: "hi", maxTokens: 7))
        let messages = try XCTUnwrap(body["messages"] as? [[String: Any]])
        XCTAssertEqual(messages.first?["content"] as? String, "hi")
        XCTAssertEqual(messages.first?["role"] as? String, "user")
        XCTAssertEqual(body["ignore_eos"] as? Bool, true)
        XCTAssertEqual(body["min_tokens"] as? Int, 7)
        XCTAssertEqual(body["temperature"] as? Int, 0)
        XCTAssertEqual(body["max_tokens"] as? Int, 3)
    }

    func testEndpointURLs() {
        XCTAssertEqual(ServerTarget(url: "http://h:8000", model: "m").endpointURL, "http://h:8000/v1/completions")
        XCTAssertEqual(ServerTarget(url: "http://h:8000/", api: .chat, model: "m").endpointURL,
                       "http://h:8000/v1/chat/completions")
        XCTAssertEqual(ServerTarget(url: "https://api.x.com/v1", api: .chat, model: "m").endpointURL,
                       "https://api.x.com/v1/chat/completions")
        XCTAssertEqual(ServerTarget(url: "http://h/custom/completions", model: "m").endpointURL,
                       "http://h/custom/completions")
        XCTAssertEqual(ServerTarget(url: "http://h:8000/v1", model: "m").rootURL, "http://h:8000")
    }

    func testValidationMessages() {
        XCTAssertThrowsError(try ServerTarget(url: "ftp://h", model: "m").validate()) {
            XCTAssertTrue("\($0)".contains("--url"))
        }
        XCTAssertThrowsError(try ServerTarget(url: "http://h", model: "m", headers: ["NoColon"]).validate()) {
            XCTAssertTrue("\($0)".contains("--header"))
        }
        XCTAssertThrowsError(try RequestShape(extraBody: "[1]").validate()) {
            XCTAssertTrue("\($0)".contains("JSON object"))
        }
        XCTAssertThrowsError(try RequestShape(extraBody: "{").validate()) {
            XCTAssertTrue("\($0)".contains("not valid JSON"))
        }
        XCTAssertThrowsError(try LoadOptions(maxInFlight: 0).validate())
        XCTAssertThrowsError(try LoadOptions(timeouts: RequestTimeouts(firstToken: -1)).validate())
    }

    func testHeadersCarryEmptyExpectAndBearerToken() {
        let headers = ServerTarget(url: "http://h", model: "m", headers: ["X-A: 1"], apiKey: "sk-1").requestHeaders
        XCTAssertTrue(headers.contains("Expect:"))
        XCTAssertTrue(headers.contains("Authorization: Bearer sk-1"))
        XCTAssertTrue(headers.contains("X-A: 1"))
        XCTAssertFalse(ServerTarget(url: "http://h", model: "m", apiKey: "sk-1").description.contains("sk-1"))
    }
}

final class PromptBuilderTests: XCTestCase {
    func testWordCountsFollowTheCalibration() {
        let b = PromptBuilder(tokensPerWord: 1.5, overheadTokens: 10)
        XCTAssertEqual(b.wordCount(forTokens: 160), 100)
        XCTAssertEqual(b.wordCount(forTokens: 1), 1)
        let prompt = b.prompt(id: 3, tokens: 160)
        XCTAssertEqual(prompt.split(separator: " ").count, 102) // "Request 3:" plus 100 words
        XCTAssertTrue(prompt.hasPrefix("Request 3: "))
    }

    func testPromptsDifferFromTheirStart() {
        let b = PromptBuilder()
        XCTAssertNotEqual(b.prompt(id: 1, tokens: 50).dropFirst(11).prefix(20), b.prompt(id: 2, tokens: 50).dropFirst(11).prefix(20))
        XCTAssertEqual(b.prompt(id: 5, tokens: 5000), b.prompt(id: 5, tokens: 5000))
    }

    func testRequestsOfOneSharedPrefixBeginWithTheSameTextThenTheirOwn() {
        let b = PromptBuilder(tokensPerWord: 1, overheadTokens: 0)
        let prefix = PlannedPrefix(index: 2, tokens: 300)
        let one = b.prompt(for: PlannedRequest(id: 1, arrival: 0, promptTokens: 800, outputTokens: 1, sharedPrefix: prefix))
        let two = b.prompt(for: PlannedRequest(id: 2, arrival: 0, promptTokens: 500, outputTokens: 1, sharedPrefix: prefix))
        let other = b.prompt(for: PlannedRequest(id: 3, arrival: 0, promptTokens: 800, outputTokens: 1,
                                                 sharedPrefix: PlannedPrefix(index: 0, tokens: 300)))
        let words = { (text: String) in text.split(separator: " ") }
        // "Shared context 2:" and 297 words (300 in all), then "Request N:" and the rest of the prompt's words.
        XCTAssertEqual(words(one).prefix(300), words(two).prefix(300))
        XCTAssertEqual(words(one)[300...301], ["Request", "1:"])
        XCTAssertEqual(words(two)[300...301], ["Request", "2:"])
        XCTAssertEqual(words(one).count, 300 + 2 + 500)
        XCTAssertNotEqual(words(one).prefix(300), words(other).prefix(300))
        let plain = PlannedRequest(id: 4, arrival: 0, promptTokens: 800, outputTokens: 1)
        XCTAssertEqual(b.prompt(for: plain), b.prompt(id: 4, tokens: 800))
    }
}
