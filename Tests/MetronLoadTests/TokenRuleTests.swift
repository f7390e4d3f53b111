import Foundation
import MetronModel
import MetronTestSupport
import XCTest
@testable import MetronLoad

/// Servers streaming several tokens per chunk, with a known timeline: the recorded token counts (and
/// so the fluidity-index) must match what the server sent, whether or not it reports usage per chunk.
final class TokenRuleTests: XCTestCase {
    /// Seconds between chunks, and per-token deadline: a chunk of several tokens is on time, one
    /// token per chunk is not.
    private let gap = 0.05, tbtDeadline = 0.02

    private static func event(tokens: Int, usage: (prompt: Int, completion: Int)?) -> String {
        let text = String(repeating: " ab", count: tokens)
        let usageField = usage.map { #","usage":{"prompt_tokens":\#($0.prompt),"completion_tokens":\#($0.completion)}"# } ?? ""
        return #"data: {"choices":[{"index":0,"text":"\#(text)","finish_reason":null}]\#(usageField)}"# + "\n\n"
    }

    private static func asksForUsagePerChunk(_ request: ScriptedServer.Request) -> Bool {
        (request.json["stream_options"] as? [String: Any])?["continuous_usage_stats"] as? Bool == true
    }

    /// Streams `truth` tokens per chunk: with the cumulative usage in every chunk when it offers that
    /// and is asked for it (as vLLM does), else only in a final usage chunk.
    private func server(truth: [Int], textTokens: [Int]? = nil, offersUsagePerChunk: Bool) async throws -> ScriptedServer {
        let gap = self.gap
        return try await ScriptedServer { request in
            let perChunk = offersUsagePerChunk && Self.asksForUsagePerChunk(request)
            var sum = 0
            var events: [String] = []
            for (i, k) in truth.enumerated() {
                sum += k
                events.append(Self.event(tokens: textTokens?[i] ?? k, usage: perChunk ? (5, sum) : nil))
            }
            events.append(Events.usage(prompt: 5, completion: sum))
            events.append(Events.done)
            return ScriptedServer.stream(events, gap: gap)
        }
    }

    private func record(from server: ScriptedServer) async throws -> RequestRecord {
        let generator = LoadGenerator(
            target: ServerTarget(url: server.url, model: "m"), prompts: PromptBuilder(tokensPerWord: 1),
            options: LoadOptions(calibrationWakeups: 5))
        let result = try await generator.run(plan: [PlannedRequest(id: 0, arrival: 0, promptTokens: 4, outputTokens: 64)])
        await server.shutdown()
        let r = result.records[0]
        XCTAssertEqual(r.status, .ok, r.error ?? "")
        return r
    }

    private func fluidity(_ r: RequestRecord, tokens: [Int]) -> Double {
        let x = TokenTimeline(arrival: r.scheduledS, chunkTimes: r.chunkTimesS, chunkTokens: tokens).interTokenTimes
        // The first token is left out: its slack would hide every later miss.
        return Fluidity.deadlines(x, ttftDeadline: 0, tbtDeadline: tbtDeadline, ignoreFirstToken: true).fluidityIndex
    }

    func testUsageOnlyAtTheEndIsSpreadByText() async throws {
        let truth = Array(repeating: 4, count: 9) + [2]
        let server = try await server(truth: truth, offersUsagePerChunk: false)
        let r = try await record(from: server)
        XCTAssertTrue(Self.asksForUsagePerChunk(try XCTUnwrap(server.requests.first)), "the body asks for usage per chunk")
        XCTAssertEqual(r.tokenRule, .apportionedByText)
        XCTAssertEqual(r.chunkTokens, truth)
        XCTAssertEqual(r.outputTokens, 38)
        XCTAssertEqual(fluidity(r, tokens: r.chunkTokens), fluidity(r, tokens: truth), accuracy: 0.02)
    }

    func testUsageInEveryChunkIsTakenAsIs() async throws {
        // Token texts of equal length, so spreading by text would get these counts wrong.
        let truth = [1, 6, 2, 5, 3, 4, 1, 6, 4, 2]
        let server = try await server(
            truth: truth, textTokens: Array(repeating: 3, count: truth.count), offersUsagePerChunk: true)
        let r = try await record(from: server)
        XCTAssertEqual(r.tokenRule, .perChunkUsage)
        XCTAssertEqual(r.chunkTokens, truth)
        XCTAssertEqual(r.outputTokens, truth.reduce(0, +))
        XCTAssertEqual(fluidity(r, tokens: r.chunkTokens), fluidity(r, tokens: truth), accuracy: 0.02)
    }
}
