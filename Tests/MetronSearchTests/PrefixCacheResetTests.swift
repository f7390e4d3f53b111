import Foundation
import MetronLoad
import MetronModel
import MetronSearch
import MetronSweep
import MetronTestSupport
import XCTest

/// `probe.reset_prefix_cache`: every probe over HTTP begins by emptying the server's prefix cache,
/// with vLLM's endpoint or SGLang's, and a server without either stops the search with the reason.
final class PrefixCacheResetTests: XCTestCase {
    /// A streaming server of one token per request; `resetPaths` answer 200, every other POST path 404.
    func server(resetPaths: Set<String>) async throws -> ScriptedServer {
        try await ScriptedServer { request in
            if request.path.hasSuffix("/completions") {
                return ScriptedServer.stream([Events.text(), Events.usage(prompt: 16, completion: 1), Events.done])
            }
            return resetPaths.contains(request.path) ? ScriptedServer.json(status: 200, "{}") : ScriptedServer.json(status: 404, "{}")
        }
    }

    func runner(_ server: ScriptedServer, reset: Bool) -> LoadProbeRunner {
        var window = ProbeWindow()
        window.requests = 3
        window.warmupS = 0
        window.resetPrefixCache = reset ? true : nil
        let generator = LoadGenerator(target: ServerTarget(url: server.url, model: "m"), shape: RequestShape(),
                                      prompts: PromptBuilder(tokensPerWord: 1), options: LoadOptions(calibrationWakeups: 5))
        return LoadProbeRunner(generator: generator,
                               planner: ProbePlanner(workload: WorkloadSpec(arrival: .constant), window: window, minRequests: 1))
    }

    func paths(_ server: ScriptedServer) -> [String] { server.requests.filter { !$0.path.hasSuffix("/completions") }.map(\.path) }

    func testEachProbeStartsWithTheFirstResetTheServerAnswers() async throws {
        for (answering, expected) in [(["/reset_prefix_cache"], ["/reset_prefix_cache"]),
                                      (["/flush_cache"], ["/reset_prefix_cache", "/flush_cache"])] {
            let server = try await server(resetPaths: Set(answering))
            let runner = runner(server, reset: true)
            _ = try await runner.probe(ProbeRequest(rate: 50, attempt: 1))
            _ = try await runner.probe(ProbeRequest(rate: 50, attempt: 2))
            XCTAssertEqual(paths(server), expected + expected, "\(answering)")
            await server.shutdown()
        }
    }

    func testAServerWithoutAResetStopsTheProbeSayingWhy() async throws {
        let server = try await server(resetPaths: [])
        do {
            _ = try await runner(server, reset: true).probe(ProbeRequest(rate: 50, attempt: 1))
            XCTFail("expected the probe to stop")
        } catch let error as PrefixCacheResetUnavailable {
            XCTAssertEqual("\(error)", "probe.reset_prefix_cache is set, but \(server.url) answers neither POST /reset_prefix_cache (vLLM) "
                           + "nor POST /flush_cache (SGLang); remove the setting to let probes share the cache")
        }
        XCTAssertFalse(server.requests.contains { $0.path.hasSuffix("/completions") }, "no load after a failed reset")
        await server.shutdown()
    }

    func testNoResetUnlessAsked() async throws {
        let server = try await server(resetPaths: ["/reset_prefix_cache"])
        _ = try await runner(server, reset: false).probe(ProbeRequest(rate: 50, attempt: 1))
        XCTAssertEqual(paths(server), [])
        await server.shutdown()
    }
}
