import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronStats
import MetronTestSupport
import XCTest

final class SweepFileTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("metron-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n100,20,120,5\n300,50,350,6\n"
            .write(to: dir.appendingPathComponent("trace.csv"), atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    let valid = """
        name: quickstart
        systems:
          - name: sim-vllm
            simulator:
              hardware: a100
              model: llama-3-8b
              scheduler: vllm
              tp: 2
              max_batch_size: 128
              token_budget: 256
            hardware: A100-80GB
            gpus: 2
            usd_per_hour: 7.2
          - name: prod
            url: https://llm.example.com/v1
            model: meta-llama/Llama-3-8B
            api_key_env: PROD_KEY
            gpus: 1
        workloads:
          - name: chat
            arrival: {process: gamma, cv: 2}
            prompt_tokens: {distribution: uniform, min: 128, max: 2048}
            output_tokens: 256
            seed: 7
          - name: replay
            trace: trace.csv
            max_total_tokens: 4096
        slos:
          - name: p99-fluidity
            type: fluidity
            percentile: 99
            fluidity_target: 0.9
            tbt_deadline_s: 0.03
            prefill_model: reference
            reference_system: sim-vllm
            ttft_slack_s: 0.25
          - name: latency
            type: ttft_tbt
            ttft: {percentile: 99, limit_s: 2}
            tbt: {percentile: 95, limit_s: 0.05}
            prefill_model: fixed
            ttft_deadline_s: 1.5
            max_error_rate: 0.02
        search:
          strategy: bisect
          start_rate: 0.5
          relative_ci_width: 0.15
          probe_budget: 10
        probe:
          duration_s: 30
          warmup_s: 5
          min_requests: 200
        prefill:
          lengths: [256, 1024, 4096]
          requests_per_length: 3
        """

    func parse(_ text: String, environment: [String: String]? = nil) throws -> SweepFile {
        try SweepFile.parse(text, file: "sweep.yaml", baseDirectory: dir, environment: environment)
    }

    func problems(_ text: String, environment: [String: String]? = nil) -> [InputProblem] {
        do {
            _ = try parse(text, environment: environment)
            XCTFail("expected problems")
            return []
        } catch let error as InputFileError {
            return error.problems
        } catch {
            XCTFail("unexpected \(error)")
            return []
        }
    }

    func replacing(_ old: String, with new: String) -> String {
        precondition(valid.contains(old), old)
        return valid.replacingOccurrences(of: old, with: new)
    }

    func testSharedPrefixOfAWorkload() throws {
        let sweep = try parse(replacing("    seed: 7", with: "    seed: 7\n    shared_prefix: {count: 4, tokens: 100, fraction: 0.9}"),
                              environment: ["PROD_KEY": "k"])
        XCTAssertEqual(try sweep.workloads.element(at: 0).spec.sharedPrefix, SharedPrefix(count: 4, tokens: 100, fraction: 0.9))
        XCTAssertNil(try sweep.workloads.element(at: 1).spec.sharedPrefix)
    }

    func testResetOfThePrefixCacheIsAProbeSetting() throws {
        XCTAssertNil(try parse(valid, environment: ["PROD_KEY": "k"]).probe.resetPrefixCache)
        let on = try parse(replacing("  warmup_s: 5", with: "  warmup_s: 5\n  reset_prefix_cache: true"), environment: ["PROD_KEY": "k"])
        XCTAssertEqual(on.probe.resetPrefixCache, true)
        let bad = problems(replacing("  warmup_s: 5", with: "  warmup_s: 5\n  reset_prefix_cache: often")).map(\.description)
        XCTAssertTrue(bad.contains { $0.contains("probe.reset_prefix_cache: expected true or false, got the text 'often'") }, "\(bad)")
    }

    func testBadSharedPrefixesAreReportedAtTheirKey() {
        for (value, expected) in [
            ("{count: 4, tokens: 100, fraction: 1.2}", "workloads[0] ('chat').shared_prefix.fraction: expected a number at most 1, got 1.2"),
            ("{count: 4, tokens: 100, fraction: -0.5}", "workloads[0] ('chat').shared_prefix.fraction: expected a number at least 0, got -0.5"),
            ("{count: 0, tokens: 100, fraction: 0.5}", "workloads[0] ('chat').shared_prefix.count: expected a whole number of at least 1, got 0"),
            ("{count: 4, tokens: 128, fraction: 0.5}",
             "workloads[0] ('chat').shared_prefix.tokens: a prefix of 128 tokens does not fit in the shortest prompt (128 tokens)"),
            ("{count: 4, tokens: 100}", "workloads[0] ('chat').shared_prefix: missing required key 'fraction'"),
            ("0.9", "workloads[0] ('chat').shared_prefix: expected a mapping with keys count, tokens, fraction"),
        ] {
            let found = problems(replacing("    seed: 7", with: "    seed: 7\n    shared_prefix: \(value)")).map(\.description)
            XCTAssertTrue(found.contains { $0.contains(expected) }, "\(value): \(found)")
        }
    }

    /// The sessions key, with the server system on the chat API that sessions need.
    private func withSessions(_ value: String, api: String? = "chat") -> String {
        let sessions = replacing("    seed: 7", with: "    seed: 7\n    sessions: \(value)")
        guard let api else { return sessions }
        return sessions.replacingOccurrences(of: "    api_key_env: PROD_KEY", with: "    api_key_env: PROD_KEY\n    api: \(api)")
    }

    func testSessionsOfAWorkload() throws {
        let sweep = try parse(withSessions("{turns: {distribution: uniform, min: 2, max: 6}, think_time_s: {distribution: exponential, mean: 3}}"),
                              environment: ["PROD_KEY": "k"])
        XCTAssertEqual(try sweep.workloads.element(at: 0).spec.sessions,
                       SessionSpec(turns: .uniform(min: 2, max: 6), thinkTimeS: .exponential(mean: 3)))
        XCTAssertNil(try sweep.workloads.element(at: 1).spec.sessions)
        for (value, expected) in [
            ("{turns: 3}", SessionSpec(turns: .fixed(3))),
            ("{turns: {distribution: fixed, turns: 4}, think_time_s: 2.5}", SessionSpec(turns: .fixed(4), thinkTimeS: .fixed(2.5))),
            ("{turns: 2, think_time_s: {distribution: uniform, min: 1, max: 3}}", SessionSpec(turns: .fixed(2), thinkTimeS: .uniform(min: 1, max: 3))),
            ("{turns: 2, think_time_s: {distribution: fixed, seconds: 0}}", SessionSpec(turns: .fixed(2), thinkTimeS: .fixed(0))),
        ] {
            XCTAssertEqual(try parse(withSessions(value), environment: ["PROD_KEY": "k"]).workloads.element(at: 0).spec.sessions, expected, value)
        }
    }

    func testBadSessionsAreReportedAtTheirKey() {
        let at = "workloads[0] ('chat').sessions"
        for (value, expected) in [
            ("{turns: 2, think_time_s: -1}", "\(at).think_time_s: expected a number at least 0, got -1"),
            ("{turns: 2, think_time_s: {distribution: exponential, mean: -3}}", "\(at).think_time_s.mean: expected a number at least 0, got -3"),
            ("{turns: 2, think_time_s: {distribution: uniform, min: 3, max: 1}}", "\(at).think_time_s.max: expected at least min (3), got 1"),
            ("{turns: 2, think_time_s: {distribution: exponential}}", "\(at).think_time_s: an exponential distribution needs 'mean'"),
            ("{turns: 2, think_time_s: {distribution: exponential, mean: 1, seconds: 2}}",
             "\(at).think_time_s.seconds: an exponential distribution takes mean, not 'seconds'"),
            ("{turns: 2, think_time_s: {distribution: normal, mean: 1}}", "\(at).think_time_s.distribution"),
            ("{turns: 0}", "\(at).turns: expected a whole number of at least 1, got 0"),
            ("{turns: {distribution: fixed, tokens: 3}}", "\(at).turns: a fixed distribution needs 'turns'"),
            ("{think_time_s: 1}", "\(at): missing required key 'turns'"),
            ("{turns: 2, pause: 1}", "\(at)"),
        ] {
            let found = problems(withSessions(value), environment: ["PROD_KEY": "k"]).map(\.description)
            XCTAssertTrue(found.contains { $0.contains(expected) }, "\(value): \(found)")
        }
    }

    func testSessionsOnTheCompletionsAPIAreRefusedNamingTheSystem() {
        let found = problems(withSessions("{turns: 3}", api: nil), environment: ["PROD_KEY": "k"]).map(\.description)
        XCTAssertTrue(found.contains {
            $0.contains("workloads: 'chat' has sessions") && $0.contains("system 'prod' uses the completions API; give it api: chat")
        }, "\(found)")
        XCTAssertFalse(found.contains { $0.contains("sim-vllm") }, "the simulator answers the chat API: \(found)")
    }

    func testEndpointFromTheEnvironmentWithRequestSwitches() throws {
        let text = replacing("url: https://llm.example.com/v1", with: """
            url: ${LLM_URL}
                api: chat
                ignore_eos: false
                extra_body: {cache_prompt: false, temperature: 0}
            """)
        let sweep = try parse(text, environment: ["LLM_URL": "http://10.1.2.3:8000/v1", "PROD_KEY": "k"])
        guard case let .server(e) = try sweep.systems.element(at: 1).kind else { return XCTFail("endpoint expected") }
        XCTAssertEqual(e.url.absoluteString, "http://10.1.2.3:8000/v1")
        XCTAssertEqual(e.api, .chat)
        XCTAssertFalse(e.shape.ignoreEOS)
        XCTAssertEqual(e.shape.extraBody, #"{"cache_prompt":false,"temperature":0}"#)

        let unset = problems(text, environment: ["PROD_KEY": "k"]).map(\.description)
        XCTAssertTrue(unset.contains { $0.contains("url: the environment variable LLM_URL is not set") }, "\(unset)")
        let bad = problems(replacing("url: https://llm.example.com/v1", with: """
            url: https://llm.example.com/v1
                api: grpc
                extra_body: [1]
            """), environment: ["PROD_KEY": "k"]).map(\.description)
        XCTAssertTrue(bad.contains { $0.contains(".api") && $0.contains("grpc") }, "\(bad)")
        XCTAssertTrue(bad.contains { $0.contains("extra_body: expected a mapping") }, "\(bad)")
    }

    func testOnePlanForEveryRateIsASetting() throws {
        XCTAssertTrue(try parse(valid).probe.planPerRate)
        let one = try parse(replacing("  warmup_s: 5", with: "  warmup_s: 5\n  plan_per_rate: false"))
        XCTAssertFalse(one.probe.planPerRate)
        let bad = problems(replacing("  warmup_s: 5", with: "  warmup_s: 5\n  plan_per_rate: 3")).map(\.description)
        XCTAssertTrue(bad.contains { $0.contains("plan_per_rate") }, "\(bad)")
    }

    func testProbeSizesAreSettingsAndFollowTheStrictestSLO() throws {
        let sweep = try parse(valid)
        let level = sweep.slos.map(\.kind.attainmentLevel).max() ?? 0
        XCTAssertEqual(sweep.probe.requests, ProbeWindow.requests(forLevel: level))
        let sized = try parse(replacing("  warmup_s: 5", with: "  warmup_s: 5\n  requests: 600\n  bracket_requests: 120"))
        XCTAssertEqual(sized.probe.requests, 600)
        XCTAssertEqual(sized.probe.bracketRequests, 120)
        for (key, value) in [("requests", "0"), ("bracket_requests", "1.5"), ("requests", "many")] {
            let bad = problems(replacing("  warmup_s: 5", with: "  warmup_s: 5\n  \(key): \(value)")).map(\.description)
            XCTAssertTrue(bad.contains { $0.contains("probe.\(key)") }, "\(key): \(value): \(bad)")
        }
    }

    func testAKeyPastedAsTheVariableNameIsNotEchoed() {
        let key = "sk-live-0123456789abcdef"
        let found = problems(replacing("api_key_env: PROD_KEY", with: "api_key_env: \(key)")).map(\.description)
        XCTAssertTrue(found.contains { $0.contains("api_key_env: expected the name of an environment variable") }, "\(found)")
        XCTAssertFalse(found.joined().contains(key))
    }

    func testCustomProfilesAndSimulatorProblems() throws {
        let custom = replacing("""
                  hardware: a100
                  model: llama-3-8b
            """, with: """
                  hardware: {name: my-gpu, peak_tflops: 400, memory_bandwidth_gb_s: 2000, memory_gb: 48}
                  model: {name: tiny, layers: 8, hidden_size: 1024, attention_heads: 8, kv_heads: 8, vocab_size: 32000, params_billion: 0.2, max_model_len: 8192}
                  efficiency: {iteration_overhead_s: 0.001}
            """)
        let sweep = try parse(custom)
        guard case let .simulator(sim) = try sweep.systems.element(at: 0).kind else { return XCTFail("simulator expected") }
        XCTAssertEqual(sim.hardware.name, "my-gpu")
        XCTAssertEqual(sim.hardware.memoryGB, 48)
        XCTAssertEqual(sim.model.layers, 8)
        XCTAssertEqual(sim.efficiency.iterationOverheadS, 0.001)

        let found = problems(replacing("hardware: a100", with: "hardware: b200").replacingOccurrences(
            of: "max_batch_size: 128", with: "max_batch_size: 128\n      chunked_prefill: true")).map(\.description)
        XCTAssertTrue(found.contains { $0.contains("unknown built-in hardware b200") }, "\(found)")
        XCTAssertTrue(found.contains { $0.contains("chunked_prefill") }, "\(found)")
        let broken = problems(replacing("model: llama-3-8b", with: "model: {name: x, layers: 8}")).map(\.description)
        XCTAssertTrue(broken.contains { $0.contains("model: missing '") }, "\(broken)")
    }

    func testReasoningSimulatorAndVisibleFluidityTokens() throws {
        let reasoning = replacing("      tp: 2\n", with: "      tp: 2\n      reasoning_tokens: {distribution: uniform, min: 0, max: 800}\n")
            .replacingOccurrences(of: "    api_key_env: PROD_KEY\n", with: "    api_key_env: PROD_KEY\n    api: chat\n")
            .replacingOccurrences(of: "    ttft_slack_s: 0.25\n", with: "    ttft_slack_s: 0.25\n    fluidity_tokens: visible\n")
        let sweep = try parse(reasoning, environment: ["PROD_KEY": "k"])
        let sim = try sweep.systems.element(at: 0)
        guard case let .simulator(config) = sim.kind else { return XCTFail("simulator expected") }
        XCTAssertEqual(config.reasoningTokens, .uniform(min: 0, max: 800))
        XCTAssertEqual(sim.api, .chat, "a reasoning simulator is measured over chat")
        XCTAssertEqual(sweep.slos.map(\.fluidityTokens), [.visible, .all])
        let model = try PrefillModel.fit([256, 1024, 4096].map { PrefillSample(promptTokens: $0, ttftS: 0.01 + 1e-5 * Double($0)) })
        XCTAssertEqual(try sweep.slos[0].resolve(prefill: model).deadlines.tokens, .visible)

        // The visible view on a system that streams over completions is an error naming both.
        let completions = reasoning.replacingOccurrences(of: "    api: chat\n", with: "")
        let found = problems(completions, environment: ["PROD_KEY": "k"]).map(\.description)
        XCTAssertTrue(found.contains {
            $0.contains("SLO 'p99-fluidity' counts visible tokens only, but system 'prod' streams over the completions API")
                && $0.contains("give it api: chat")
        }, "\(found)")
        let plainSim = completions.replacingOccurrences(of: "      reasoning_tokens: {distribution: uniform, min: 0, max: 800}\n", with: "")
        XCTAssertTrue(problems(plainSim, environment: ["PROD_KEY": "k"]).map(\.description).contains { $0.contains("system 'sim-vllm'") })

        let unknownView = problems(reasoning.replacingOccurrences(of: "fluidity_tokens: visible", with: "fluidity_tokens: answer"),
                                   environment: ["PROD_KEY": "k"]).map(\.description)
        XCTAssertTrue(unknownView.contains { $0.contains("slos[0] ('p99-fluidity').fluidity_tokens") && $0.contains("answer") }, "\(unknownView)")
        let negative = problems(reasoning.replacingOccurrences(of: "min: 0, max: 800", with: "min: -5, max: 800"),
                                environment: ["PROD_KEY": "k"]).map(\.description)
        XCTAssertTrue(negative.contains {
            $0.contains("systems[0] ('sim-vllm').simulator") && $0.contains("reasoning length range -5...800 must satisfy 0 <= min <= max")
        }, "\(negative)")
    }

    func testValidFileReadsEveryKey() throws {
        let sweep = try parse(valid)
        XCTAssertEqual(sweep.name, "quickstart")
        XCTAssertEqual(sweep.systems.map(\.name), ["sim-vllm", "prod"])
        guard case let .simulator(sim) = try sweep.systems.element(at: 0).kind else { return XCTFail("simulator expected") }
        XCTAssertEqual(sim.scheduler.kind.rawValue, "vllm")
        XCTAssertEqual(sim.tensorParallel, 2)
        XCTAssertEqual(sim.scheduler.maxBatchSize, 128)
        XCTAssertEqual(sim.scheduler.tokenBudget, 256)
        XCTAssertEqual(sim.hardware, .a100)
        XCTAssertEqual(sim.model, .llama3_8b)
        XCTAssertEqual(try sweep.systems.element(at: 0).gpus, 2)
        XCTAssertEqual(try sweep.systems.element(at: 0).usdPerHour, 7.2)
        guard case let .server(e) = try sweep.systems.element(at: 1).kind else { return XCTFail("endpoint expected") }
        XCTAssertEqual(e.url.absoluteString, "https://llm.example.com/v1")
        XCTAssertEqual(e.apiKeyEnv, "PROD_KEY")
        XCTAssertEqual(try sweep.workloads.element(at: 0).spec.arrival, .gamma(cv: 2))
        XCTAssertEqual(try sweep.workloads.element(at: 0).spec.lengths, .distributions(prompt: .uniform(min: 128, max: 2048), output: .fixed(256)))
        XCTAssertEqual(try sweep.workloads.element(at: 0).spec.seed, 7)
        XCTAssertEqual(try sweep.workloads.element(at: 1).spec.lengths, .trace([TraceRow(promptTokens: 100, outputTokens: 20), TraceRow(promptTokens: 300, outputTokens: 50)]))
        XCTAssertEqual(try sweep.workloads.element(at: 1).spec.maxTotalTokens, 4096)
        XCTAssertEqual(try sweep.slos.element(at: 0).ttftDeadline, .referenceSystem("sim-vllm", slackS: 0.25))
        XCTAssertEqual(try sweep.slos.element(at: 0).prefillSystem(for: "prod"), "sim-vllm")
        XCTAssertEqual(try sweep.slos.element(at: 1).kind, .ttftTBT(ttft: LatencyLimit(percentile: 99, limitS: 2), tbt: LatencyLimit(percentile: 95, limitS: 0.05)))
        XCTAssertEqual(try sweep.slos.element(at: 1).ttftDeadline, .fixed(1.5))
        XCTAssertEqual(try sweep.slos.element(at: 1).maxErrorRate, 0.02)
        XCTAssertEqual(sweep.search.strategy, .bisect)
        XCTAssertEqual(sweep.search.startRate, 0.5)
        XCTAssertEqual(sweep.search.probeBudget, 10)
        XCTAssertEqual(sweep.probe.durationS, 30)
        XCTAssertEqual(sweep.validity.minRequests, 200)
        XCTAssertEqual(sweep.prefill, PrefillLadder(lengths: [256, 1024, 4096], requestsPerLength: 3))
    }

    func testSLOResolvesWithAPrefillModel() throws {
        let sweep = try parse(valid)
        let fluidity = try sweep.slos.element(at: 0)
        XCTAssertThrowsError(try fluidity.resolve(prefill: nil))
        let model = try PrefillModel.fit([256, 1024, 4096].map { PrefillSample(promptTokens: $0, ttftS: 0.01 + 1e-5 * Double($0)) })
        let slo = try fluidity.resolve(prefill: model)
        XCTAssertEqual(slo.deadlines.tbt, 0.03)
        XCTAssertEqual(slo.deadlines.ttft.deadline(promptTokens: 1000), 0.01 + 0.01 + 0.25, accuracy: 1e-6)
        XCTAssertEqual(try sweep.slos.element(at: 1).resolve(prefill: nil).deadlines.ttft, .fixed(1.5))
    }

    func testUnknownKeysSuggestTheNearestKnownKey() {
        let p = problems(replacing("  strategy: bisect", with: "  stratgy: bisect"))
        XCTAssertEqual(p.count, 1)
        XCTAssertEqual(p.first?.description, "sweep.yaml:45:3: search: unknown key 'stratgy'; did you mean 'strategy'?")
    }

    func testUnknownKeyWithoutNeighbourListsTheChoices() throws {
        let p = problems(replacing("  warmup_s: 5", with: "  colour: blue"))
        XCTAssertEqual(p.map(\.line), [51])
        let first = try XCTUnwrap(p.first, "no problem reported")
        XCTAssertTrue(first.message.contains("unknown key 'colour'; expected one of requests, bracket_requests, duration_s, warmup_s"), first.message)
    }

    func testMisspeltSimulatorSettingIsCaughtDespiteOpenKnobs() {
        let p = problems(replacing("      scheduler: vllm", with: "      schedulr: vllm"))
        XCTAssertTrue(p.contains { $0.message.contains("unknown key 'schedulr'; did you mean 'scheduler'?") }, "\(p)")
        XCTAssertTrue(p.contains { $0.message.contains("missing required key 'scheduler'") }, "\(p)")
    }

    func testWrongTypes() {
        let p = problems(replacing("    gpus: 2", with: "    gpus: two").replacingOccurrences(of: "probe_budget: 10", with: "probe_budget: \"10\""))
        XCTAssertEqual(p.map(\.message), [
            "systems[0] ('sim-vllm').gpus: expected a whole number, got the text 'two'",
            "search.probe_budget: expected a whole number, got the text '10'",
        ])
        XCTAssertEqual(p.map(\.line), [12, 48])
        XCTAssertEqual(p.map(\.column), [11, 17])
    }

    func testMissingFields() {
        let p = problems("""
            name: s
            systems:
              - url: http://localhost:8000/v1
            slos:
              - name: a
            """)
        XCTAssertEqual(Set(p.map(\.message)), [
            "sweep: missing required key 'workloads'",
            "systems[0]: missing required key 'name'",
        ])
    }

    func testImpossibleValues() {
        let text = valid
            .replacingOccurrences(of: "start_rate: 0.5", with: "start_rate: -2")
            .replacingOccurrences(of: "    percentile: 99\n    fluidity_target", with: "    percentile: 120\n    fluidity_target")
            .replacingOccurrences(of: "tbt_deadline_s: 0.03", with: "tbt_deadline_s: 0")
            .replacingOccurrences(of: "usd_per_hour: 7.2", with: "usd_per_hour: -1")
        let p = problems(text)
        let messages = p.map(\.message)
        XCTAssertTrue(messages.contains("search.start_rate: expected a number greater than 0, got -2"), "\(messages)")
        XCTAssertTrue(messages.contains("slos[0] ('p99-fluidity').percentile: expected a number less than 100, got 120"), "\(messages)")
        XCTAssertTrue(messages.contains("slos[0] ('p99-fluidity').tbt_deadline_s: expected a number greater than 0, got 0"), "\(messages)")
        XCTAssertTrue(messages.contains("systems[0] ('sim-vllm').usd_per_hour: expected a number at least 0, got -1"), "\(messages)")
        XCTAssertEqual(p.count, 4, "every problem reported together: \(messages)")
        XCTAssertEqual(p.map(\.line), p.map(\.line).sorted(), "in file order")
    }

    func testUnreadableTraceFile() throws {
        let p = problems(replacing("trace: trace.csv", with: "trace: missing.csv"))
        XCTAssertEqual(p.count, 1)
        let first = try XCTUnwrap(p.first, "no problem reported")
        XCTAssertEqual(first.line, 26)
        XCTAssertTrue(first.message.hasPrefix("workloads[1] ('replay').trace: cannot read the trace file 'missing.csv'"), first.message)
    }

    func testBadTraceRowsAreReportedWithTheirLines() throws {
        try "num_prefill_tokens,num_decode_tokens\n100,x\n".write(to: dir.appendingPathComponent("bad.csv"), atomically: true, encoding: .utf8)
        let p = problems(replacing("trace: trace.csv", with: "trace: bad.csv"))
        let first = try XCTUnwrap(p.first, "no problem reported")
        XCTAssertTrue(first.message.contains("bad.csv:2: num_decode_tokens must be a whole number"), first.message)
    }

    func testQuantileIsAnAlternativeToPercentile() throws {
        let sweep = try parse(replacing("    percentile: 99\n    fluidity_target", with: "    quantile: 0.95\n    fluidity_target")
            .replacingOccurrences(of: "ttft: {percentile: 99, limit_s: 2}", with: "ttft: {quantile: 0.9, limit_s: 2}"))
        XCTAssertEqual(try sweep.slos.element(at: 0).kind, .fluidity(percentile: 95, target: 0.9))
        XCTAssertEqual(try sweep.slos.element(at: 1).kind, .ttftTBT(ttft: LatencyLimit(percentile: 90, limitS: 2), tbt: LatencyLimit(percentile: 95, limitS: 0.05)))
        let both = problems(replacing("    percentile: 99\n    fluidity_target", with: "    percentile: 99\n    quantile: 1.5\n    fluidity_target"))
        XCTAssertEqual(both.map(\.message), ["slos[0] ('p99-fluidity'): give either 'percentile' or 'quantile', not both"])
        let neither = problems(replacing("ttft: {percentile: 99, limit_s: 2}", with: "ttft: {limit_s: 2}"))
        XCTAssertEqual(neither.map(\.message), ["slos[1] ('latency').ttft: missing required key 'percentile' (0 < p < 100) or 'quantile' (0 < q < 1)"])
    }

    func testTraceRowsMustFitTheTokenCap() {
        let p = problems(replacing("max_total_tokens: 4096", with: "max_total_tokens: 100"))
        XCTAssertEqual(p.map(\.message), ["workloads[1] ('replay').max_total_tokens: no row of the trace fits in 100 tokens (prompt + output)"])
    }

    func testURLThatDoesNotParse() {
        for bad in ["htp//llm.example.com", "ftp://llm.example.com", "https://", "not a url"] {
            let p = problems(replacing("url: https://llm.example.com/v1", with: "url: \"\(bad)\""))
            XCTAssertEqual(p.map(\.message), ["systems[1] ('prod').url: '\(bad)' is not a URL: expected http:// or https://, a host and an optional path"])
            XCTAssertEqual(p.map(\.line), [15])
        }
    }

    func testUnsetAPIKeyVariableWhenTheEnvironmentIsChecked() throws {
        XCTAssertNoThrow(try parse(valid, environment: ["PROD_KEY": "secret"]))
        let p = problems(valid, environment: [:])
        XCTAssertEqual(p.map(\.message), ["systems[1] ('prod').api_key_env: the environment variable PROD_KEY is not set"])
    }

    func testReferenceSystemMustExist() {
        let p = problems(replacing("reference_system: sim-vllm", with: "reference_system: sim-vlm"))
        XCTAssertEqual(p.map(\.message), ["slos: 'p99-fluidity' takes its prefill model from system 'sim-vlm', which the sweep does not list; did you mean 'sim-vllm'?"])
        XCTAssertEqual(p.map(\.line), [35])
    }

    func testSchedulerChoices() {
        let p = problems(replacing("scheduler: vllm", with: "scheduler: sarathy"))
        XCTAssertEqual(p.map(\.message), ["systems[0] ('sim-vllm').simulator.scheduler: expected one of vllm, sarathi, got 'sarathy'; did you mean 'sarathi'?"])
    }

    func testDuplicateNames() {
        let p = problems(replacing("  - name: prod", with: "  - name: sim-vllm"))
        XCTAssertEqual(p.map(\.message), ["systems[1]: the name 'sim-vllm' is already used by systems[0]; names must be unique"])
    }

    func testSyntaxErrorHasALocation() throws {
        let p = problems("name: s\nsystems: [a, b\nworkloads: []\n")
        XCTAssertEqual(p.count, 1)
        let first = try XCTUnwrap(p.first, "no problem reported")
        XCTAssertTrue(first.message.hasPrefix("not valid YAML"), first.message)
        XCTAssertGreaterThan(first.line, 1)
    }

    func testDuplicateKeyIsAProblem() throws {
        let p = problems("name: a\nname: b\nsystems: []\n")
        XCTAssertEqual(p.count, 1)
        let first = try XCTUnwrap(p.first, "no problem reported")
        XCTAssertTrue(first.message.contains("duplicate key 'name'"), first.message)
    }

    func testEmptyFileAndWrongTopLevel() {
        XCTAssertEqual(problems("").map(\.message), ["the sweep file is empty; expected keys name, systems, workloads, slos"])
        XCTAssertEqual(problems("- a\n- b\n").first?.message.hasPrefix("sweep: expected a mapping"), true)
    }

    func testSLOTypeMismatchedKeys() {
        let p = problems(replacing("    tbt: {percentile: 95, limit_s: 0.05}", with: "    tpot: {percentile: 95, limit_s: 0.05}"))
        XCTAssertEqual(Set(p.map(\.message)), [
            "slos[1] ('latency').tpot: a ttft_tbt SLO takes 'ttft' and 'tbt'",
            "slos[1] ('latency'): a ttft_tbt SLO needs 'tbt': {percentile: 99, limit_s: ...}",
        ])
    }

    func testLengthDistributionsAndArrivals() {
        let p = problems(valid
            .replacingOccurrences(of: "{distribution: uniform, min: 128, max: 2048}", with: "{distribution: uniform, min: 2048, max: 128}")
            .replacingOccurrences(of: "{process: gamma, cv: 2}", with: "{process: gamma}"))
        XCTAssertEqual(Set(p.map(\.message)), [
            "workloads[0] ('chat').arrival: gamma arrivals need 'cv'",
            "workloads[0] ('chat').prompt_tokens.max: expected at least min (2048), got 128",
        ])
    }

    func testNamesMustBeUsableAsDirectories() throws {
        let p = problems(replacing("name: quickstart", with: "name: ../escape"))
        let first = try XCTUnwrap(p.first, "no problem reported")
        XCTAssertTrue(first.message.contains("is not a usable name"), first.message)
    }

    func testLoadReportsAnUnreadableFile() {
        XCTAssertThrowsError(try SweepFile.load(path: dir.appendingPathComponent("nope.yaml").path)) {
            XCTAssertTrue("\($0)".contains("cannot read the sweep file"))
        }
    }
}

extension SweepFileTests {
    func testParallelSystemsIsAWholeNumberOfAtLeastOne() throws {
        XCTAssertNil(try parse(valid).search.parallelSystems, "default: every system at once")
        let two = try parse(replacing("  probe_budget: 10", with: "  probe_budget: 10\n  parallel_systems: 2"))
        XCTAssertEqual(two.search.parallelSystems, 2)
        for (bad, message) in [
            ("0", "search.parallel_systems: expected a whole number of at least 1, got 0"),
            ("-3", "search.parallel_systems: expected a whole number of at least 1, got -3"),
            ("2.5", "search.parallel_systems: expected a whole number, got the number 2.5"),
            ("two", "search.parallel_systems: expected a whole number, got the text 'two'"),
        ] {
            let p = problems(replacing("  probe_budget: 10", with: "  probe_budget: 10\n  parallel_systems: \(bad)"))
            XCTAssertEqual(p.map(\.message), [message], bad)
            XCTAssertEqual(p.first?.line, 49, bad)
        }
    }
}
