import Foundation
import MetronLoad
import MetronModel
import MetronSim
import MetronSimModel
import MetronSweep
import MetronTestSupport
import XCTest

/// The simulator's `prefix_caching` switch in sweep files, and the two ways its prompt blocks are
/// named (the tokenizer over HTTP, the plan's shared prefixes in virtual time) agreeing on hits.
final class PrefixCachingSweepTests: XCTestCase {
    private func sweep(simulator: String) -> String {
        """
        name: caching
        systems:
          - name: sim
            simulator: \(simulator)
        workloads:
          - name: chat
            prompt_tokens: 2000
            output_tokens: 64
            shared_prefix: {count: 4, tokens: 1024, fraction: 0.9}
        slos:
          - name: latency
            type: ttft_tbt
            ttft: {percentile: 90, limit_s: 2}
            tbt: {percentile: 90, limit_s: 0.05}
            prefill_model: fixed
            ttft_deadline_s: 1.5
        """
    }

    private func simulator(of text: String) throws -> SimulatorConfig {
        let file = try SweepFile.parse(
            text, file: "sweep.yaml", baseDirectory: FileManager.default.temporaryDirectory, environment: nil)
        guard case let .simulator(config) = try XCTUnwrap(file.systems.first).kind else {
            throw XCTSkip("not a simulator system")
        }
        return config
    }

    func testPrefixCachingIsASimulatorKeyAndOffByDefault() throws {
        XCTAssertFalse(try simulator(of: sweep(simulator: "{hardware: h100, model: llama-3-8b, scheduler: vllm}")).prefixCaching)
        XCTAssertTrue(
            try simulator(of: sweep(simulator: "{hardware: h100, model: llama-3-8b, scheduler: vllm, prefix_caching: true}"))
                .prefixCaching)
        XCTAssertFalse(
            try simulator(of: sweep(simulator: "{hardware: h100, model: llama-3-8b, scheduler: vllm, prefix_caching: false}"))
                .prefixCaching)
    }

    func testAPrefixCachingThatIsNotABooleanIsNamedInTheError() throws {
        for value in ["yes please", "1", "[true]"] {
            let text = sweep(simulator: "{hardware: h100, model: llama-3-8b, scheduler: vllm, prefix_caching: \(value)}")
            do {
                _ = try simulator(of: text)
                XCTFail("\(value) should be rejected")
            } catch let error as InputFileError {
                let messages = error.problems.map(\.description)
                XCTAssertTrue(
                    messages.contains { $0.contains("simulator.prefix_caching: expected true or false") }, "\(messages)")
            }
        }
    }

    func testTheCachingGainSweepComparesTheSwitch() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let file = try SweepFile.load(path: repo.appendingPathComponent("sweeps/caching-gain.yaml").path)
        let switches = file.systems.compactMap { system -> Bool? in
            if case let .simulator(config) = system.kind { return config.prefixCaching }
            return nil
        }
        XCTAssertEqual(switches, [false, true])
        XCTAssertEqual(file.workloads.first?.spec.sharedPrefix, SharedPrefix(count: 4, tokens: 1024, fraction: 0.9))
    }

    /// Requests sent one at a time, each to an idle server: the tokens the HTTP front reports cached,
    /// and those the engine finds with the plan's block names, agree to within a block.
    func testHTTPAndVirtualTimeHitForTheSameRequests() async throws {
        let spec = WorkloadSpec(
            lengths: .distributions(prompt: .uniform(min: 1100, max: 1600), output: .fixed(2)),
            sharedPrefix: SharedPrefix(count: 2, tokens: 512, fraction: 0.7), seed: 3)
        let plan = Array(try spec.plan(rate: 10, duration: 2).prefix(12))
        XCTAssertTrue(plan.contains { $0.sharedPrefix == nil })

        // The prompt builder calibrated to the simulator's tokenizer, as the load generator does it.
        let words = PromptCalibration.sampleWords
        let counts = words.map { SimTokenizer.completionPromptTokens(PromptBuilder.text(id: 0, words: $0)) }
        let slope = Double(counts[1] - counts[0]) / Double(words[1] - words[0])
        let builder = PromptBuilder(tokensPerWord: slope, overheadTokens: Double(counts[0]) - slope * Double(words[0]))

        let config = SimulatorConfig(hardware: .h100, model: .llama3_8b, seed: 5, prefixCaching: true)
        let server = try await SimulatorServer.start(SimulatorServerOptions(simulator: config))
        var overHTTP: [Int] = []
        for request in plan {
            let body: [String: Any] = ["prompt": builder.prompt(for: request), "max_tokens": request.outputTokens]
            let r = try await TestClient.post(server, "/v1/completions", body)
            let details = (r.json?["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any]
            overHTTP.append(try XCTUnwrap(details?["cached_tokens"] as? Int, r.body))
        }
        try await server.stop()

        var engine = try ServingEngine(config: config)
        var inVirtualTime: [Int] = []
        for (index, request) in plan.enumerated() {
            let serving = ServingRequest(
                id: index, promptTokens: request.promptTokens, outputTokens: request.outputTokens,
                blockHashes: PromptBlocks.hashes(for: request, uniqueID: index))
            XCTAssertNil(engine.submit(serving))
            var first: Int?
            while let iteration = engine.planIteration() {
                for token in engine.complete(iteration) where token.index == 0 { first = token.cachedPromptTokens }
            }
            inVirtualTime.append(try XCTUnwrap(first))
        }
        XCTAssertTrue(inVirtualTime.contains { $0 > 0 })
        for (i, (http, virtual)) in zip(overHTTP, inVirtualTime).enumerated() {
            XCTAssertEqual(http > 0, virtual > 0, "request \(i): HTTP \(overHTTP), virtual time \(inVirtualTime)")
            XCTAssertLessThanOrEqual(abs(http - virtual), CostModel.blockTokens, "request \(i): HTTP \(overHTTP), virtual time \(inVirtualTime)")
        }
    }
}
