import Foundation
import MetronModel
import MetronTestSupport
import XCTest
@testable import MetronLoad

/// Sessions over HTTP: a turn is sent when the answer before it has ended plus its think time, with
/// the whole conversation as chat messages.
final class SessionEngineTests: XCTestCase {
    private func plan(turns: Int, thinkS: Double, sessions: Int) throws -> [PlannedRequest] {
        let spec = WorkloadSpec(arrival: .constant, lengths: .distributions(prompt: .fixed(12), output: .fixed(3)),
                                sessions: SessionSpec(turns: .fixed(turns), thinkTimeS: .fixed(thinkS)), seed: 2)
        return try spec.plan(rate: 10, duration: Double(sessions) / 10)
    }

    private func run(_ plan: [PlannedRequest], responder: @escaping ScriptedServer.Responder,
                     api: APIKind = .chat) async throws -> (records: [RequestRecord], requests: [ScriptedServer.Request]) {
        let server = try await ScriptedServer(responder: responder)
        do {
            let generator = LoadGenerator(target: ServerTarget(url: server.url, api: api, model: "m"),
                                          prompts: PromptBuilder(tokensPerWord: 1), options: LoadOptions(calibrationWakeups: 0))
            let records = try await generator.run(plan: plan).records
            let requests = server.requests
            await server.shutdown()
            return (records, requests)
        } catch {
            await server.shutdown()
            throw error
        }
    }

    private static let answer: ScriptedServer.Responder = { _ in
        ScriptedServer.stream([Events.role, Events.content("one"), Events.content(" two"), Events.content(" three"), Events.done], gap: 0.02)
    }

    func testEachTurnFollowsTheAnswerAndCarriesTheConversation() async throws {
        let plan = try plan(turns: 3, thinkS: 0.2, sessions: 2)
        XCTAssertEqual(plan.count, 6)
        let (records, requests) = try await run(plan, responder: Self.answer)
        XCTAssertEqual(records.map(\.id), plan.map(\.id))
        XCTAssertEqual(records.map(\.status), Array(repeating: .ok, count: 6), records.compactMap(\.error).first ?? "")
        XCTAssertEqual(records.map(\.session), [0, 0, 0, 1, 1, 1])
        XCTAssertEqual(records.map(\.turn), [0, 1, 2, 0, 1, 2])
        for (before, after) in zip(records, records.dropFirst()) where after.turn != 0 {
            // The stream ends 40 ms after its last token ([DONE], then the end of the body), and the
            // think time starts when it has ended.
            let lastToken = try XCTUnwrap(before.chunkTimesS.last)
            XCTAssertEqual(after.scheduledS - lastToken, 0.24, accuracy: 0.03, "sent at the stream's end plus the think time")
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(after.sentS), after.scheduledS)
        }
        // The conversations as the server saw them: 1, 3 and 5 messages, each answer sent back.
        let conversations = requests.map { ($0.json["messages"] as? [[String: String]]) ?? [] }
        XCTAssertEqual(conversations.map(\.count).sorted(), [1, 1, 3, 3, 5, 5])
        let longest = try XCTUnwrap(conversations.first { $0.count == 5 })
        XCTAssertEqual(longest.map { $0["role"] ?? "" }, ["user", "assistant", "user", "assistant", "user"])
        XCTAssertEqual(longest[1]["content"], "one two three")
        XCTAssertEqual(longest[3]["content"], "one two three")
        let shorter = try XCTUnwrap(conversations.first { $0.count == 3 && $0[0] == longest[0] })
        XCTAssertEqual(Array(longest.prefix(3)), shorter, "a turn continues its own session's conversation")
        XCTAssertNotEqual(longest[2]["content"], longest[4]["content"], "each turn has a message of its own")
    }

    func testATurnThatFailsEndsItsSessionWithoutBlamingTheClient() async throws {
        let plan = try plan(turns: 3, thinkS: 0, sessions: 2)
        let (records, requests) = try await run(plan) { request in
            ((request.json["messages"] as? [Any])?.count ?? 0) == 3
                ? ScriptedServer.json(status: 503, #"{"error":"overloaded"}"#) : Self.answer(request)
        }
        XCTAssertEqual(records.map(\.status), [.ok, .httpError, .sessionEnded, .ok, .httpError, .sessionEnded])
        XCTAssertEqual(requests.count, 4, "the third turns were never sent")
        let unsent = try records.element(at: 2)
        XCTAssertNil(unsent.sentS)
        XCTAssertEqual(unsent.scheduledS, try records.element(at: 1).scheduledS)
        XCTAssertTrue(unsent.error?.contains("turn 1 of session 0 before it ended as http_error") == true, unsent.error ?? "")
        XCTAssertEqual(ClientFaults(records).requests, 0)
    }

    func testSessionsNeedTheChatAPI() async throws {
        let plan = try plan(turns: 2, thinkS: 0, sessions: 1)
        do {
            _ = try await run(plan, responder: Self.answer, api: .completions)
            XCTFail("sessions on the completions API should be refused")
        } catch {
            XCTAssertTrue("\(error)".contains("sessions need the chat API (--api chat)"), "\(error)")
        }
    }
}
