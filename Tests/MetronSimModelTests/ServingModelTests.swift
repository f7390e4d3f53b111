import Foundation
import MetronModel
import MetronTestSupport
import XCTest

@testable import MetronSimModel

final class ServingModelTests: XCTestCase {
    private func config(
        _ scheduler: SchedulerConfig, hardware: HardwareProfile = .h100, model: ModelProfile = .llama3_8b, tp: Int = 1
    ) -> SimulatorConfig {
        SimulatorConfig(hardware: hardware, model: model, tensorParallel: tp, scheduler: scheduler)
    }

    func testSingleRequestTTFTIsThePrefillTimeAndGapsAreDecodeSteps() throws {
        for scheduler in [SchedulerConfig(kind: .vllm), SchedulerConfig(kind: .sarathi, tokenBudget: 4096)] {
            let cfg = config(scheduler)
            let cost = try cfg.costModel()
            let plan = [PlannedRequest(id: 7, arrival: 1.5, promptTokens: 2000, outputTokens: 5)]
            let record = try XCTUnwrap(simulateInVirtualTime(plan, config: cfg).first)
            XCTAssertEqual(record.id, 7)
            XCTAssertEqual(record.status, .ok)
            XCTAssertEqual(record.chunkTimesS.count, 5)
            XCTAssertEqual(record.chunkTokens, [1, 1, 1, 1, 1])
            XCTAssertEqual(record.promptTokens, 2000)
            XCTAssertEqual(record.outputTokens, 5)
            XCTAssertEqual(record.scheduledS, 1.5)
            XCTAssertEqual(record.sentS, 1.5)
            let ttft = try record.chunkTimesS.element(at: 0) - 1.5
            XCTAssertEqual(ttft, cost.prefillTime(promptTokens: 2000), accuracy: 1e-12)
            // Each later token is one decode step over a cache one token longer than the last.
            for (k, (t, previous)) in zip(record.chunkTimesS.dropFirst(), record.chunkTimesS).enumerated() {
                XCTAssertEqual(t - previous, cost.decodeTime(batch: 1, context: 2000 + k), accuracy: 1e-12)
            }
        }
    }

    func testDecodeIterationTimeFollowsTheRoofline() throws {
        let cost = try config(SchedulerConfig(kind: .vllm)).costModel()
        let m = ModelProfile.llama3_8b, h = HardwareProfile.h100, e = EfficiencyConstants.standard
        let context = 1024
        var previous = 0.0
        for batch in [1, 2, 8, 32, 128, 512, 2048] {
            let gemm = 2 * m.activeParams * Double(batch) / (h.peakFlopsPerSecond * e.gemmEfficiency)
            let attention =
                4 * Double(m.layers * m.attentionHeads * m.headDim) * Double(batch * (context + 1))
                / (h.peakFlopsPerSecond * e.attentionEfficiency)
            let memory =
                (m.weightBytes + m.kvBytesPerToken * Double(batch * (context + 1)))
                / (h.memoryBytesPerSecond * e.memoryEfficiency)
            let expected = max(gemm + attention, memory) + e.iterationOverheadS
            let modelled = cost.decodeTime(batch: batch, context: context)
            XCTAssertEqual(modelled, expected, accuracy: 1e-12, "batch \(batch)")
            XCTAssertGreaterThan(modelled, previous, "batch \(batch)")
            previous = modelled
        }
        // Small batches are bound by reading the weights, large ones by compute.
        var one = IterationWork(), many = IterationWork()
        one.addDecode(context: 0)
        for _ in 0..<4096 { many.addDecode(context: 0) }
        XCTAssertGreaterThan(cost.cost(of: one).memoryS, cost.cost(of: one).computeS)
        XCTAssertGreaterThan(cost.cost(of: many).computeS, cost.cost(of: many).memoryS)
        // Weights alone: 16 GB at 80 % of 3.35 TB/s is about 6 ms.
        XCTAssertEqual(cost.decodeTime(batch: 1, context: 0), 0.0080, accuracy: 0.0005)
    }

    func testEngineDecodeStepsMatchTheCostModelForABatch() throws {
        let cfg = config(SchedulerConfig(kind: .vllm))
        let cost = try cfg.costModel()
        let plan = (0..<16).map { PlannedRequest(id: $0, arrival: 0, promptTokens: 100, outputTokens: 3) }
        let records = try simulateInVirtualTime(plan, config: cfg)
        // All sixteen are prefilled together, then decode together.
        let first = try records.element(at: 0)
        let prefill = try first.chunkTimesS.element(at: 0)
        XCTAssertTrue(records.allSatisfy { $0.chunkTimesS.first == prefill })
        let gap = try first.chunkTimesS.element(at: 1) - prefill
        XCTAssertEqual(gap, cost.decodeTime(batch: 16, context: 100), accuracy: 1e-12)
    }

    func testKVCacheCapacityFromMemoryWeightsAndReserve() throws {
        let cost = try config(SchedulerConfig(kind: .vllm)).costModel()
        // 80 GB x 0.9 - 2 GB reserve - 16.06 GB of weights, at 128 KiB per token.
        let bytes = 80e9 * 0.9 - 2e9 - 8.03e9 * 2
        XCTAssertEqual(ModelProfile.llama3_8b.kvBytesPerToken, 131_072)
        XCTAssertEqual(cost.kvCacheBlocks, Int(bytes / (131_072 * 16)))
        XCTAssertEqual(cost.kvCacheTokens, cost.kvCacheBlocks * 16)
        // Tensor parallelism adds memory, the weights are held once.
        let tp2 = try config(SchedulerConfig(kind: .vllm), tp: 2).costModel()
        XCTAssertGreaterThan(tp2.kvCacheTokens, 2 * cost.kvCacheTokens)
        // A 70B model does not fit one 80 GB GPU.
        XCTAssertThrowsError(try config(SchedulerConfig(kind: .vllm), model: .llama3_70b).costModel()) {
            XCTAssertTrue("\($0)".contains("no room for a KV cache"), "\($0)")
        }
        XCTAssertNoThrow(try config(SchedulerConfig(kind: .vllm), model: .llama3_70b, tp: 4).costModel())
    }

    /// A GPU with just enough memory for a few sequences' KV cache.
    private func tinyMemory(kvTokens: Int) -> HardwareProfile {
        let m = ModelProfile.llama3_8b
        let gb = (m.weightBytes + Double(kvTokens) * m.kvBytesPerToken) / 1e9 + 2
        var h = HardwareProfile.h100
        h.name = "tiny"
        h.memoryGB = gb / 0.9
        return h
    }

    func testKVCacheExhaustionQueuesRequests() throws {
        var scheduler = SchedulerConfig(kind: .vllm)
        scheduler.watermark = 0
        let cfg = config(scheduler, hardware: tinyMemory(kvTokens: 4 * 1024 + 8))
        XCTAssertEqual(try cfg.costModel().kvCacheTokens, 4096)
        // Each needs 1,000 tokens of cache: four fit at once, the rest wait for a finished one.
        let plan = (0..<12).map { PlannedRequest(id: $0, arrival: 0, promptTokens: 992, outputTokens: 8) }
        var engine = try ServingEngine(config: cfg)
        for p in plan {
            XCTAssertNil(engine.submit(ServingRequest(id: p.id, promptTokens: 992, outputTokens: 8)))
        }
        let first = try XCTUnwrap(engine.planIteration())
        XCTAssertEqual(first.items.count, 4)
        XCTAssertTrue(first.isPrefillOnly)
        _ = engine.complete(first)
        XCTAssertEqual(engine.statistics.running, 4)
        XCTAssertEqual(engine.statistics.waiting, 8)
        XCTAssertGreaterThan(engine.statistics.kvCacheUsage, 0.9)

        let records = try simulateInVirtualTime(plan, config: cfg)
        XCTAssertTrue(records.allSatisfy { $0.status == .ok && $0.chunkTimesS.count == 8 })
        let firstTokens = Set(records.compactMap(\.chunkTimesS.first))
        XCTAssertEqual(firstTokens.count, 3, "three waves of four")
    }

    func testKVCacheExhaustionDuringDecodePreempts() throws {
        var scheduler = SchedulerConfig(kind: .vllm)
        scheduler.watermark = 0
        let cfg = config(scheduler, hardware: tinyMemory(kvTokens: 2048 + 8))
        // Four prompts of 256 are admitted together; their outputs grow past the cache.
        let plan = (0..<4).map { PlannedRequest(id: $0, arrival: 0, promptTokens: 256, outputTokens: 700) }
        var engine = try ServingEngine(config: cfg)
        for p in plan { _ = engine.submit(ServingRequest(id: p.id, promptTokens: 256, outputTokens: 700)) }
        var tokens = [Int](repeating: 0, count: 4)
        var iterations = 0
        while let it = engine.planIteration() {
            for e in engine.complete(it) {
                XCTAssertEqual(e.index, tokens[e.requestID], "tokens come in order and are never repeated")
                tokens[e.requestID] += 1
            }
            iterations += 1
            XCTAssertLessThan(iterations, 100_000)
        }
        XCTAssertEqual(tokens, [700, 700, 700, 700])
        XCTAssertGreaterThan(engine.statistics.preemptionsTotal, 0)
        XCTAssertTrue(engine.isIdle)
        XCTAssertEqual(engine.statistics.kvCacheUsage, 0)

        let records = try simulateInVirtualTime(plan, config: cfg)
        XCTAssertTrue(records.allSatisfy { $0.status == .ok && $0.chunkTimesS.count == 700 })
        // The youngest was preempted and recomputed, so it finished last.
        XCTAssertEqual(records.max { ($0.chunkTimesS.last ?? 0) < ($1.chunkTimesS.last ?? 0) }?.id, 3)
    }

    /// Eight streams decoding when long prompts arrive: the paper's central observation.
    func testPrefillFirstStallsDecodesAndChunkedPrefillDoesNot() throws {
        var plan = (0..<8).map { PlannedRequest(id: $0, arrival: 0, promptTokens: 128, outputTokens: 300) }
        for i in 0..<3 {
            plan.append(PlannedRequest(id: 8 + i, arrival: 0.3 + 0.4 * Double(i), promptTokens: 7000, outputTokens: 20))
        }
        func worstDecodeGap(_ scheduler: SchedulerConfig) throws -> (worst: Double, typical: Double) {
            let records = try simulateInVirtualTime(plan, config: config(scheduler))
            XCTAssertTrue(records.allSatisfy { $0.status == .ok })
            var gaps: [Double] = []
            for r in records.prefix(8) {
                gaps += zip(r.chunkTimesS.dropFirst(), r.chunkTimesS).map { $0 - $1 }
            }
            gaps.sort()
            return (try XCTUnwrap(gaps.last), gaps[gaps.count / 2])
        }
        let cost = try config(SchedulerConfig(kind: .vllm)).costModel()
        let prefill7000 = cost.prefillTime(promptTokens: 7000)
        let vllm = try worstDecodeGap(SchedulerConfig(kind: .vllm))
        let sarathi = try worstDecodeGap(SchedulerConfig(kind: .sarathi, tokenBudget: 512))
        // vllm: a decode waits for a whole 7,000-token prefill.
        XCTAssertGreaterThanOrEqual(vllm.worst, prefill7000)
        // sarathi: the worst gap is one budget-sized iteration, a small multiple of a plain decode step.
        XCTAssertLessThan(sarathi.worst, prefill7000 / 5)
        XCTAssertLessThan(sarathi.worst, 4 * sarathi.typical)
        XCTAssertLessThan(sarathi.worst, vllm.worst / 5)
    }

    func testSarathiSplitsPromptsIntoBudgetedChunks() throws {
        let cfg = config(SchedulerConfig(kind: .sarathi, tokenBudget: 512))
        var engine = try ServingEngine(config: cfg)
        _ = engine.submit(ServingRequest(id: 1, promptTokens: 1200, outputTokens: 2))
        var chunks: [Int] = []
        while let it = engine.planIteration() {
            XCTAssertLessThanOrEqual(it.work.tokens, 512)
            for case let .prefill(_, chunk) in it.items { chunks.append(chunk) }
            _ = engine.complete(it)
        }
        XCTAssertEqual(chunks, [512, 512, 176])
    }

    func testMaxBatchSizeLimitsRunningSequences() throws {
        let cfg = config(SchedulerConfig(kind: .vllm, maxBatchSize: 3))
        var engine = try ServingEngine(config: cfg)
        for id in 0..<5 { _ = engine.submit(ServingRequest(id: id, promptTokens: 10, outputTokens: 4)) }
        let it = try XCTUnwrap(engine.planIteration())
        XCTAssertEqual(it.items.count, 3)
        _ = engine.complete(it)
        XCTAssertEqual(engine.statistics.running, 3)
        XCTAssertEqual(engine.statistics.waiting, 2)
    }

    func testCancelMidIterationFreesTheCacheAndEmitsNothing() throws {
        for kind in SchedulerKind.allCases {
            var engine = try ServingEngine(config: config(SchedulerConfig(kind: kind)))
            _ = engine.submit(ServingRequest(id: 1, promptTokens: 300, outputTokens: 3))
            _ = engine.submit(ServingRequest(id: 2, promptTokens: 300, outputTokens: 3))
            let it = try XCTUnwrap(engine.planIteration())
            engine.cancel(requestID: 2)
            XCTAssertEqual(engine.complete(it).map(\.requestID), [1])
            engine.cancel(requestID: 1)
            XCTAssertTrue(engine.isIdle)
            XCTAssertEqual(engine.statistics.kvCacheUsage, 0)
            XCTAssertNil(engine.planIteration())
        }
    }

    func testRequestsThatCanNeverRunAreRejectedAsHTTP400() throws {
        let cfg = config(SchedulerConfig(kind: .vllm))
        let plan = [
            PlannedRequest(id: 0, arrival: 0, promptTokens: 9000, outputTokens: 10),
            PlannedRequest(id: 1, arrival: 0, promptTokens: 10, outputTokens: 10),
        ]
        let records = try simulateInVirtualTime(plan, config: cfg)
        let tooLong = try records.element(at: 0), short = try records.element(at: 1)
        XCTAssertEqual(tooLong.status, .httpError)
        XCTAssertEqual(tooLong.httpStatus, 400)
        XCTAssertTrue(tooLong.error?.contains("maximum context length is 8192") ?? false)
        XCTAssertEqual(short.status, .ok)

        // With vllm a preempted request re-prefills prompt plus output in one iteration, so both must fit.
        let capped = config(SchedulerConfig(kind: .vllm, maxBatchedTokens: 1000))
        let engine = try ServingEngine(config: capped)
        XCTAssertEqual(
            engine.rejection(promptTokens: 900, outputTokens: 200), .exceedsBatchedTokens(tokens: 1100, limit: 1000))
        XCTAssertNil(engine.rejection(promptTokens: 800, outputTokens: 200))
        let chunked = try ServingEngine(config: config(SchedulerConfig(kind: .sarathi, maxBatchedTokens: 1000)))
        XCTAssertNil(chunked.rejection(promptTokens: 900, outputTokens: 200))
    }

    func testDrainLimitCancelsUnfinishedRequests() throws {
        let cfg = config(SchedulerConfig(kind: .vllm))
        let plan = [
            PlannedRequest(id: 0, arrival: 0, promptTokens: 100, outputTokens: 2),
            PlannedRequest(id: 1, arrival: 0.5, promptTokens: 100, outputTokens: 1000),
            PlannedRequest(id: 2, arrival: 5, promptTokens: 100, outputTokens: 10),
        ]
        let records = try simulateInVirtualTime(plan, config: cfg, drainLimitS: 1.0)
        XCTAssertEqual(records.map(\.status), [.ok, .cancelled, .cancelled])
        let cut = try records.element(at: 1), neverStarted = try records.element(at: 2)
        XCTAssertGreaterThan(cut.chunkTimesS.count, 0)
        XCTAssertLessThan(cut.chunkTimesS.count, 1000)
        XCTAssertEqual(cut.outputTokens, cut.chunkTimesS.count)
        XCTAssertTrue(cut.chunkTimesS.allSatisfy { $0 <= 1.0 })
        XCTAssertEqual(neverStarted.chunkTimesS, [])
    }

    func testThousandsOfRequestsRunToCompletion() throws {
        let spec = WorkloadSpec(
            lengths: .distributions(prompt: .uniform(min: 100, max: 3000), output: .uniform(min: 20, max: 400)),
            seed: 42)
        let plan = try spec.plan(rate: 20, duration: 200)
        XCTAssertGreaterThan(plan.count, 3000)
        for kind in SchedulerKind.allCases {
            let clock = ContinuousClock()
            var records: [RequestRecord] = []
            let elapsed = try clock.measure { records = try simulateInVirtualTime(plan, config: config(SchedulerConfig(kind: kind))) }
            print("\(kind): \(plan.count) requests in \(elapsed) (informational)")
            XCTAssertEqual(records.count, plan.count)
            for (r, p) in zip(records, plan) {
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.chunkTimesS.count, p.outputTokens)
                XCTAssertGreaterThan(r.chunkTimesS.first ?? -1, p.arrival)
                XCTAssertEqual(r.chunkTimesS, r.chunkTimesS.sorted())
            }
        }
    }

    func testMixtureOfExpertsReadsOnlyTheRoutedExperts() throws {
        let cost = try config(SchedulerConfig(kind: .vllm), model: .mixtral8x7b, tp: 2).costModel()
        let m = ModelProfile.mixtral8x7b
        XCTAssertEqual(cost.weightBytesRead(tokens: 1), m.activeParams * 2, accuracy: 1e6)
        XCTAssertEqual(cost.weightBytesRead(tokens: 4096), m.weightBytes, accuracy: 1e6)
        XCTAssertLessThan(cost.weightBytesRead(tokens: 2), cost.weightBytesRead(tokens: 8))
        // Compute uses the active parameters only.
        var work = IterationWork()
        work.addPrefill(chunk: 1000, context: 0)
        XCTAssertEqual(
            cost.cost(of: work).gemmS, 2 * 12.9e9 * 1000 / (2 * 989e12 * 0.5), accuracy: 1e-12)
    }

    func testCalibrationAgainstYi34BOnTwoH100s() throws {
        let rows = try Calibration.yi34bPrefill()
        print(Calibration.table(rows))
        XCTAssertEqual(rows.count, 4)
        for row in rows {
            XCTAssertLessThanOrEqual(abs(row.relativeError), 0.3, "\(row.promptTokens) tokens")
        }
    }

    func testEverySampleDeploymentFits() throws {
        let table = try Calibration.deploymentTable()
        XCTAssertEqual(table.split(separator: "\n").count, 2 + Calibration.sampleDeployments.count)
        XCTAssertTrue(table.contains("| llama-3-8b on 1 × H100-80GB | 411520 |"), table)
    }

    func testProfilesByNameAndFromJSON() throws {
        XCTAssertEqual(HardwareProfile.named("h100"), .h100)
        XCTAssertEqual(HardwareProfile.named("A100_80GB"), .a100)
        XCTAssertEqual(HardwareProfile.named("l40s"), .l40s)
        XCTAssertNil(HardwareProfile.named("tpu"))
        XCTAssertEqual(ModelProfile.named("Llama-3-70B"), .llama3_70b)
        XCTAssertEqual(ModelProfile.named("mixtral_8x7b"), .mixtral8x7b)
        let named = try SimulatorConfig.builtIn(hardware: "h200", model: "Yi-34B", tensorParallel: 2)
        XCTAssertEqual(named.hardware, .h200)
        XCTAssertEqual(named.model, .yi34b)
        XCTAssertThrowsError(try SimulatorConfig.builtIn(hardware: "v100", model: "gpt-5")) {
            XCTAssertTrue("\($0)".contains("unknown hardware v100"), "\($0)")
            XCTAssertTrue("\($0)".contains("unknown model gpt-5"), "\($0)")
        }

        let json = """
            {"hardware": {"name": "my-gpu", "peak_tflops": 100, "memory_bandwidth_gb_s": 1000, "memory_gb": 40},
             "model": {"name": "small", "layers": 4, "hidden_size": 512, "attention_heads": 8, "kv_heads": 2,
                       "vocab_size": 1000, "params_billion": 0.05, "max_model_len": 2048},
             "tensor_parallel": 1,
             "scheduler": {"kind": "sarathi", "token_budget": 256},
             "efficiency": {"iteration_overhead_s": 0.01}}
            """
        let cfg = try JSONDecoder().decode(SimulatorConfig.self, from: Data(json.utf8))
        XCTAssertEqual(cfg.model.headDim, 64)
        XCTAssertEqual(cfg.model.activeParamsBillion, 0.05)
        XCTAssertEqual(cfg.scheduler.maxBatchSize, 256)
        XCTAssertEqual(cfg.efficiency.iterationOverheadS, 0.01)
        XCTAssertEqual(cfg.efficiency.gemmEfficiency, EfficiencyConstants.standard.gemmEfficiency)
        XCTAssertNoThrow(try cfg.costModel())
        let again = try JSONDecoder().decode(SimulatorConfig.self, from: JSONEncoder().encode(cfg))
        XCTAssertEqual(again, cfg)

        let byName = try JSONDecoder().decode(
            SimulatorConfig.self, from: Data(#"{"hardware": "H100", "model": "llama-3-8b", "tensor_parallel": 2}"#.utf8))
        XCTAssertEqual(byName.hardware, .h100)
        XCTAssertEqual(byName.model, .llama3_8b)
        XCTAssertEqual(byName.scheduler.kind, .vllm)
        XCTAssertThrowsError(
            try JSONDecoder().decode(SimulatorConfig.self, from: Data(#"{"hardware": "TPU", "model": "llama-3-8b"}"#.utf8))
        ) { XCTAssertTrue("\($0)".contains("unknown built-in hardware TPU"), "\($0)") }

        var bad = cfg
        bad.model.kvHeads = 3
        bad.tensorParallel = 0
        bad.scheduler.tokenBudget = 0
        XCTAssertThrowsError(try bad.costModel()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("kv_heads"), text)
            XCTAssertTrue(text.contains("tensor-parallel"), text)
            XCTAssertTrue(text.contains("token budget"), text)
        }
    }
}

/// Reasoning tokens: the first of each request's output tokens, drawn per request, seeded.
final class ReasoningSimulationTests: XCTestCase {
    private func config(_ reasoning: LengthDistribution?) -> SimulatorConfig {
        SimulatorConfig(hardware: .h100, model: .llama3_8b, seed: 5, reasoningTokens: reasoning)
    }

    private let plan = (0..<12).map { PlannedRequest(id: $0, arrival: Double($0) * 0.05, promptTokens: 64, outputTokens: 10) }

    func testVirtualTimeMarksTheFirstTokensAsReasoningWithoutChangingTheWork() throws {
        let plain = try simulateInVirtualTime(plan, config: config(nil))
        let reasoning = try simulateInVirtualTime(plan, config: config(.uniform(min: 0, max: 14)))
        XCTAssertEqual(reasoning.map(\.chunkTimesS), plain.map(\.chunkTimesS), "reasoning tokens are decode work like any output token")
        XCTAssertTrue(plain.allSatisfy { $0.chunkReasoningTokens == nil })
        let counts = reasoning.map(\.reasoningTokens)
        XCTAssertGreaterThan(Set(counts).count, 2, "\(counts)")
        XCTAssertTrue(counts.contains(10), "a draw above max_tokens reasons for all of them: \(counts)")
        for r in reasoning {
            XCTAssertNil(r.chunkArraysProblem)
            let marks = r.chunkReasoningTokens ?? Array(repeating: 0, count: r.chunkTokens.count)
            XCTAssertEqual(marks, marks.sorted(by: >), "reasoning comes before the answer")
        }
        XCTAssertEqual(try simulateInVirtualTime(plan, config: config(.uniform(min: 0, max: 14))).map(\.chunkReasoningTokens),
                       reasoning.map(\.chunkReasoningTokens), "seeded")
    }

    func testReasoningTokensKeyDecodesAndBadDistributionsSayWhere() throws {
        func decode(_ reasoning: String) throws -> SimulatorConfig {
            try JSONDecoder().decode(SimulatorConfig.self, from: Data(#"{"hardware":"H100","model":"llama-3-8b","reasoning_tokens":\#(reasoning)}"#.utf8))
        }
        XCTAssertEqual(try decode("40").reasoningTokens, .fixed(40))
        XCTAssertEqual(try decode(#"{"distribution":"zipf","min":0,"max":900,"theta":1.1}"#).reasoningTokens,
                       .zipf(min: 0, max: 900, theta: 1.1))
        let encoded = String(decoding: try JSONEncoder().encode(config(.uniform(min: 0, max: 8))), as: UTF8.self)
        XCTAssertEqual(try JSONDecoder().decode(SimulatorConfig.self, from: Data(encoded.utf8)).reasoningTokens, .uniform(min: 0, max: 8))
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(config(nil)), as: UTF8.self).contains("reasoning"))
        for (bad, expected) in [
            ("-3", "reasoning length must be at least 0, got -3"),
            (#"{"distribution":"uniform","min":5,"max":2}"#, "reasoning length range 5...2 must satisfy 0 <= min <= max"),
            (#"{"distribution":"zipf","min":0,"max":9,"theta":0}"#, "reasoning Zipf theta must be positive, got 0.0"),
            (#"{"distribution":"normal","min":0,"max":9}"#, "unknown distribution 'normal'"),
        ] {
            XCTAssertThrowsError(try decode(bad), bad) { error in
                guard case let DecodingError.dataCorrupted(context) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(context.debugDescription.contains(expected), context.debugDescription)
                XCTAssertTrue(context.codingPath.map(\.stringValue).contains { $0 == "reasoning_tokens" || $0 == "distribution" }, "\(context.codingPath)")
            }
        }
        XCTAssertThrowsError(try config(.fixed(-1)).costModel()) {
            XCTAssertTrue("\($0)".contains("reasoning length must be at least 0, got -1"), "\($0)")
        }
    }
}
