import MetronModel
import MetronReport
import XCTest

final class SummaryTextTests: XCTestCase {
    /// 21 requests of 10 tokens, every third one failed: 14 successful.
    func summaryWithFailures() -> RunSummary {
        let records = (0..<21).map { i -> RequestRecord in
            let t = Double(i)
            guard i % 3 != 0 else { return RequestRecord(id: i, scheduledS: t, sentS: t, status: .httpError, httpStatus: 503) }
            return RequestRecord(
                id: i, scheduledS: t, sentS: t, chunkTimesS: (0..<10).map { t + 0.0264 + Double($0) * 0.02 },
                chunkTokens: Array(repeating: 1, count: 10), requestedPromptTokens: 100, promptTokens: 100, outputTokens: 10)
        }
        return RunSummary(records: records, targetRate: 1, deadlines: .referenceDefault)
    }

    func line(_ prefix: String, of text: String) throws -> String {
        try XCTUnwrap(text.split(separator: "\n").map(String.init).first { $0.hasPrefix(prefix) }, "no line '\(prefix)' in:\n\(text)")
    }

    func testReasoningRunsShowTTFOTBesideTTFTAndTheReasoningStreamed() throws {
        let plain = SummaryText.render(summaryWithFailures())
        XCTAssertFalse(plain.contains("reasoning"))
        XCTAssertTrue(try line("ttfot", of: plain).hasSuffix("over 14 successful of 21 (first visible token)"))

        let records = (0..<3).map { i in
            RequestRecord(id: i, scheduledS: Double(i), sentS: Double(i), chunkTimesS: [Double(i) + 0.1, Double(i) + 0.4],
                          chunkTokens: [2, 1], chunkReasoningTokens: i == 2 ? [2, 1] : [2, 0])
        }
        let summary = RunSummary(records: records, targetRate: 1, deadlines: FluidityDeadlines(ttft: .fixed(0.3), tbt: 0.03, tokens: .visible))
        let text = SummaryText.render(summary)
        let lines = text.split(separator: "\n").map(String.init)
        let ttft = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("ttft ") })
        XCTAssertTrue(lines[ttft + 1].hasPrefix("ttfot"), "TTFOT is the line after TTFT:\n\(text)")
        XCTAssertTrue(lines[ttft + 1].contains("400.00ms"), lines[ttft + 1])
        XCTAssertTrue(lines[ttft + 1].hasSuffix("over 2 successful of 3 (those with a visible token)"), lines[ttft + 1])
        XCTAssertTrue(try line("fluidity", of: text).contains("[visible tokens only, from the first, D_d = 0.03 s]"))
        XCTAssertTrue(text.contains("reasoning: 7 tokens over the 3 successful of 3 that streamed it (2.3 per request); "
            + "1 ended before any visible token"), text)
        XCTAssertTrue(try RunDirectory.summaryJSON(summary).contains("\"without_visible_output\""))
    }

    func testPromptCacheUseIsSummedOverTheRequestsThatReportedIt() throws {
        let plain = summaryWithFailures()
        XCTAssertNil(plain.promptCache)
        XCTAssertFalse(SummaryText.render(plain).contains("prompt cache"))
        XCTAssertFalse(try RunDirectory.summaryJSON(plain).contains("prompt_cache"), "summary.json as before when nothing was cached")

        let records = (0..<4).map { i in
            RequestRecord(id: i, scheduledS: Double(i), sentS: Double(i), chunkTimesS: [Double(i) + 0.1], chunkTokens: [1],
                          requestedPromptTokens: 1000, promptTokens: 1000, outputTokens: 1, cachedPromptTokens: i == 3 ? nil : 256 * i)
        }
        let cached = RunSummary(records: records, targetRate: 1, deadlines: .referenceDefault)
        XCTAssertEqual(cached.promptCache, PromptCacheUse(requests: 3, cachedTokens: 768, promptTokens: 3000))
        XCTAssertEqual(try line("          prompt cache", of: SummaryText.render(cached)),
                       "          prompt cache: 768 of 3000 prompt tokens (25.60%) from the server's cache, over the 3 successful requests that reported it")
    }

    func testEveryFigureSaysWhatItIsOver() throws {
        let text = SummaryText.render(summaryWithFailures())
        for name in ["ttft", "e2e", "norm. lat."] {
            XCTAssertTrue(try line(name, of: text).hasSuffix("over 14 successful of 21"), text)
        }
        XCTAssertTrue(try line("ttft", of: text).contains("26.40ms"), text)
        XCTAssertTrue(try line("tbt", of: text).hasSuffix("over 126 token gaps of 14 successful of 21"), text)
        XCTAssertTrue(try line("inter-chunk", of: text).hasSuffix("over 126 chunk gaps of 14 successful of 21"), text)
        XCTAssertTrue(try line("tpot", of: text).hasSuffix("over 14 successful of 21 (those of 2 or more tokens)"), text)
        XCTAssertTrue(try line("fluidity", of: text).contains("over all 21 requests (a failed one counts 0)"), text)
        XCTAssertTrue(text.contains("service miss rate 0.00% (0 of 140 deadlines) over 14 successful of 21"), text)
        XCTAssertTrue(try line("tokens", of: text).hasSuffix("over 14 successful of 21"), text)
        XCTAssertTrue(text.contains("TBT based 50.00 tok/s over 126 token gaps of 14 successful of 21"), text)
        XCTAssertTrue(text.contains("output tokens/s over 14 successful of 21"), text)
    }

    func testThePercentileNoteNamesEachThinFigureWithItsCount() throws {
        let note = try line("note:", of: SummaryText.render(summaryWithFailures()))
        for named in ["ttft (14)", "tpot (14)", "e2e (14)", "fluidity P1 (21)", "fluid token rate (14)"] {
            XCTAssertTrue(note.contains(named), note)
        }
        XCTAssertFalse(note.contains("tbt"), note)
    }

    func testSuccessfulRequestsWithoutOutputAreNamedInTheCount() throws {
        let records = [
            RequestRecord(id: 0, scheduledS: 0, sentS: 0, chunkTimesS: [0.1, 0.12], chunkTokens: [1, 1]),
            RequestRecord(id: 1, scheduledS: 1, sentS: 1, chunkTimesS: [1.1], chunkTokens: [1]),
            RequestRecord(id: 2, scheduledS: 2, sentS: 2),
        ]
        let text = SummaryText.render(RunSummary(records: records, targetRate: nil, deadlines: .referenceDefault))
        XCTAssertTrue(try line("ttft", of: text).hasSuffix("over 2 successful of 3 (those with output)"), text)
        XCTAssertTrue(try line("tpot", of: text).hasSuffix("over 1 successful of 3 (those of 2 or more tokens)"), text)
        XCTAssertTrue(text.contains("TPOT based 150.00 tok/s over 3 successful of 3"), "TPOTs 0.02, 0 and 0: \(text)")
    }
}
