import Foundation
import MetronModel
import XCTest

@testable import MetronSimModel

final class PrefixCacheTests: XCTestCase {
    // MARK: the cache alone

    func testLeadingHitsStopAtTheFirstMiss() {
        var cache = PrefixCache()
        for hash: UInt64 in [1, 2, 3] { XCTAssertTrue(cache.insert(hash)) }
        XCTAssertFalse(cache.insert(2), "a block is cached once")
        XCTAssertEqual(cache.leadingHits([1, 2, 3, 4][...]), 3)
        XCTAssertEqual(cache.leadingHits([1, 9, 3][...]), 1)
        XCTAssertEqual(cache.leadingHits([9, 1, 2][...]), 0)
    }

    func testHeldBlocksAreNeverEvictedAndReleasedOnesGoOldestFirst() {
        var cache = PrefixCache()
        for hash: UInt64 in [1, 2, 3, 4] { _ = cache.insert(hash) }
        XCTAssertEqual(cache.evictableCount, 0)
        // Released in the order 3, 1, 4; 2 stays held.
        for hash: UInt64 in [3, 1, 4] { XCTAssertTrue(cache.release(hash)) }
        XCTAssertEqual(cache.evictableCount, 3)
        cache.evict(2)
        XCTAssertFalse(cache.contains(3))
        XCTAssertFalse(cache.contains(1))
        XCTAssertTrue(cache.contains(4))
        XCTAssertTrue(cache.contains(2), "held")
        XCTAssertEqual(cache.evictableCount, 1)
    }

    func testReusingAnEvictableBlockMakesItTheNewestWhenReleasedAgain() {
        var cache = PrefixCache()
        for hash: UInt64 in [1, 2, 3] {
            _ = cache.insert(hash)
            _ = cache.release(hash)
        }
        XCTAssertTrue(cache.acquire(1), "was evictable")
        XCTAssertFalse(cache.acquire(1), "a second holder")
        XCTAssertEqual(cache.evictableCount, 2)
        XCTAssertFalse(cache.release(1), "still held once")
        XCTAssertTrue(cache.release(1))
        cache.evict(2)
        XCTAssertEqual([1, 2, 3].filter { cache.contains($0) }, [1])
    }

    // MARK: block identities

    func testBlockHashesChainOverEveryEarlierToken() {
        let a = (0..<50).map(UInt64.init)
        var b = a
        b[20] = 999
        let ha = PromptBlocks.hashes(ofTokens: a), hb = PromptBlocks.hashes(ofTokens: b)
        XCTAssertEqual(ha.count, 3, "full blocks only")
        XCTAssertEqual(ha[0], hb[0])
        XCTAssertNotEqual(ha[1], hb[1])
        XCTAssertNotEqual(ha[2], hb[2], "a change in block 1 renames every later block")
        XCTAssertEqual(PromptBlocks.hashes(ofTokens: Array(a.prefix(15))), [])
        XCTAssertEqual(PromptBlocks.hashes(ofTokens: a), ha, "deterministic")
    }

    func testPlannedRequestsShareExactlyTheirPrefixsFullBlocks() {
        let p0 = PlannedPrefix(index: 0, tokens: 1000), p1 = PlannedPrefix(index: 1, tokens: 1000)
        let a = PromptBlocks.hashes(for: PlannedRequest(id: 0, arrival: 0, promptTokens: 1500, outputTokens: 1, sharedPrefix: p0), uniqueID: 0)
        let b = PromptBlocks.hashes(for: PlannedRequest(id: 1, arrival: 0, promptTokens: 1800, outputTokens: 1, sharedPrefix: p0), uniqueID: 1)
        let c = PromptBlocks.hashes(for: PlannedRequest(id: 2, arrival: 0, promptTokens: 1500, outputTokens: 1, sharedPrefix: p1), uniqueID: 2)
        let d = PromptBlocks.hashes(for: PlannedRequest(id: 3, arrival: 0, promptTokens: 1500, outputTokens: 1), uniqueID: 3)
        XCTAssertEqual(a.count, 93)
        XCTAssertEqual(b.count, 112)
        let shared = zip(a, b).prefix { $0 == $1 }.count
        XCTAssertEqual(shared, 1000 / 16)
        XCTAssertTrue(Set(a).isDisjoint(with: c))
        XCTAssertTrue(Set(a).isDisjoint(with: d))
        XCTAssertTrue(Set(c).isDisjoint(with: d))
    }

    // MARK: the engine

    private func config(_ kind: SchedulerKind, caching: Bool = true, efficiency: EfficiencyConstants = .standard) -> SimulatorConfig {
        SimulatorConfig(
            hardware: .h100, model: .llama3_8b, scheduler: SchedulerConfig(kind: kind), efficiency: efficiency,
            prefixCaching: caching)
    }

    private func shared(_ id: Int, arrival: Double, prompt: Int = 2000, prefix: Int = 0) -> PlannedRequest {
        PlannedRequest(
            id: id, arrival: arrival, promptTokens: prompt, outputTokens: 3,
            sharedPrefix: PlannedPrefix(index: prefix, tokens: 1024))
    }

    func testCachedTokensAreNotPrefilled() throws {
        for kind in [SchedulerKind.vllm, .sarathi] {
            let cfg = config(kind)
            let cost = try cfg.costModel()
            var cfgChunks = cfg
            cfgChunks.scheduler.tokenBudget = 4096
            let plan = [shared(0, arrival: 0), shared(1, arrival: 100), shared(2, arrival: 200, prefix: 1)]
            let records = try simulateInVirtualTime(plan, config: cfgChunks)
            let ttft = try records.map { try XCTUnwrap($0.chunkTimesS.first) - $0.scheduledS }
            XCTAssertEqual(ttft[0], cost.prefillTime(promptTokens: 2000), accuracy: 1e-12, "\(kind): a cold cache")
            var warm = IterationWork()
            warm.addPrefill(chunk: 2000 - 1024, context: 1024)
            XCTAssertEqual(ttft[1], cost.cost(of: warm).totalS, accuracy: 1e-12, "\(kind): only the uncached tokens")
            XCTAssertLessThan(ttft[1], ttft[0] * 0.7)
            XCTAssertEqual(ttft[2], ttft[0], accuracy: 1e-12, "\(kind): another prefix misses")
        }
    }

    func testOffByDefaultAndOffMeansNoReuse() throws {
        let plain = SimulatorConfig(hardware: .h100, model: .llama3_8b)
        XCTAssertFalse(plain.prefixCaching)
        let decoded = try JSONDecoder().decode(
            SimulatorConfig.self, from: Data(#"{"hardware": "H100", "model": "llama-3-8b"}"#.utf8))
        XCTAssertFalse(decoded.prefixCaching)
        let encoded = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        XCTAssertFalse(encoded.contains("prefix_caching"), "a configuration without the switch encodes as before")
        let on = try JSONDecoder().decode(
            SimulatorConfig.self, from: Data(#"{"hardware": "H100", "model": "llama-3-8b", "prefix_caching": true}"#.utf8))
        XCTAssertTrue(on.prefixCaching)
        XCTAssertEqual(try JSONDecoder().decode(SimulatorConfig.self, from: try JSONEncoder().encode(on)), on)

        let plan = [shared(0, arrival: 0), shared(1, arrival: 100)]
        let records = try simulateInVirtualTime(plan, config: config(.vllm, caching: false))
        let ttft = records.map { $0.chunkTimesS[0] - $0.scheduledS }
        XCTAssertEqual(ttft[0], ttft[1], accuracy: 1e-12)
        var engine = try ServingEngine(config: config(.vllm, caching: false))
        let hashes = PromptBlocks.hashes(for: plan[0], uniqueID: 0)
        for id in 0..<2 {
            let emitted = drain(&engine, ServingRequest(id: id, promptTokens: 2000, outputTokens: 1, blockHashes: hashes))
            XCTAssertEqual(emitted.first?.cachedPromptTokens, 0)
        }
        XCTAssertEqual(engine.statistics.prefixCacheQueriesTotal, 0)
        XCTAssertEqual(engine.statistics.prefixCacheHitsTotal, 0)
    }

    /// Submits one request and runs the engine until it is idle; the tokens emitted.
    private func drain(_ engine: inout ServingEngine, _ request: ServingRequest) -> [TokenEmission] {
        XCTAssertNil(engine.submit(request))
        var out: [TokenEmission] = []
        while let iteration = engine.planIteration() { out += engine.complete(iteration) }
        XCTAssertTrue(engine.isIdle)
        return out
    }

    private func tokens(_ seed: UInt64, _ count: Int) -> [UInt64] { (0..<UInt64(count)).map { seed << 32 | $0 } }

    func testCountersAndAWholePromptCachedStillComputesOneToken() throws {
        var engine = try ServingEngine(config: config(.vllm))
        let prompt = tokens(1, 320)
        let hashes = PromptBlocks.hashes(ofTokens: prompt)
        XCTAssertEqual(drain(&engine, ServingRequest(id: 1, promptTokens: 320, outputTokens: 2, blockHashes: hashes)).first?.cachedPromptTokens, 0)
        // All 20 blocks are cached; the last is recomputed so the first token comes from a prefill.
        XCTAssertEqual(drain(&engine, ServingRequest(id: 2, promptTokens: 320, outputTokens: 2, blockHashes: hashes)).first?.cachedPromptTokens, 304)
        let stats = engine.statistics
        XCTAssertEqual(stats.prefixCacheQueriesTotal, 640)
        XCTAssertEqual(stats.prefixCacheHitsTotal, 304)
        XCTAssertEqual(stats.kvCacheUsage, 0, "cached blocks no request holds count as free")
    }

    func testEvictionTakesTheLeastRecentlyUsedBlocksWithinTheKVCapacity() throws {
        // About 500 KV blocks, so a few prompts fill the cache.
        let model = ModelProfile.llama3_8b
        var efficiency = EfficiencyConstants.standard
        let blockBytes = model.kvBytesPerToken * Double(CostModel.blockTokens)
        efficiency.activationReserveGB = (80e9 * efficiency.gpuMemoryUtilization - model.weightBytes - 500.5 * blockBytes) / 1e9
        var engine = try ServingEngine(config: config(.vllm, efficiency: efficiency))
        let capacity = engine.cost.kvCacheBlocks
        XCTAssertEqual(capacity, 500)
        let a = PromptBlocks.hashes(ofTokens: tokens(1, 1600)), b = PromptBlocks.hashes(ofTokens: tokens(2, 1600))
        func cached(_ id: Int, _ hashes: [UInt64], promptTokens: Int = 1600) -> Int? {
            let request = ServingRequest(id: id, promptTokens: promptTokens, outputTokens: 1, blockHashes: hashes)
            return drain(&engine, request).first?.cachedPromptTokens
        }
        XCTAssertEqual(cached(1, a), 0)
        XCTAssertEqual(cached(2, b), 0)
        XCTAssertEqual(cached(3, a), 99 * 16, "a is now more recent than b")
        let cache = try XCTUnwrap(engine.prefixCache)
        XCTAssertEqual(cache.count, 200)
        XCTAssertEqual(cache.evictableCount, 200)
        XCTAssertEqual(engine.freeBlocks, capacity)
        // A prompt of its own that needs every empty block and 101 cached ones: b's 100 and a's last,
        // released before b.
        let empty = engine.freeBlocks - cache.evictableCount
        let flood = (empty + 101) * CostModel.blockTokens - 1
        XCTAssertEqual(cached(4, PromptBlocks.hashes(ofTokens: tokens(3, flood)), promptTokens: flood), 0)
        XCTAssertLessThanOrEqual(try XCTUnwrap(engine.prefixCache).count, capacity)
        XCTAssertEqual(cached(5, a), 99 * 16, "a's first 99 blocks survived")
        XCTAssertEqual(cached(6, b), 0, "b was evicted")
    }

    func testBlocksAreAllReturnedAfterPreemptionsAndCancellations() throws {
        let model = ModelProfile.llama3_8b
        var efficiency = EfficiencyConstants.standard
        let blockBytes = model.kvBytesPerToken * Double(CostModel.blockTokens)
        efficiency.activationReserveGB = (80e9 * efficiency.gpuMemoryUtilization - model.weightBytes - 800.5 * blockBytes) / 1e9
        for kind in [SchedulerKind.vllm, .sarathi] {
            var engine = try ServingEngine(config: config(kind, efficiency: efficiency))
            for id in 0..<60 {
                let planned = PlannedRequest(
                    id: id, arrival: 0, promptTokens: 1100 + 37 * id, outputTokens: 300,
                    sharedPrefix: id % 5 == 0 ? nil : PlannedPrefix(index: id % 3, tokens: 1024))
                let request = ServingRequest(
                    id: id, promptTokens: planned.promptTokens, outputTokens: planned.outputTokens,
                    blockHashes: PromptBlocks.hashes(for: planned, uniqueID: id))
                XCTAssertNil(engine.submit(request))
            }
            var iterations = 0
            while let iteration = engine.planIteration() {
                _ = engine.complete(iteration)
                iterations += 1
                if iterations == 50 { engine.cancel(requestID: 7) }
            }
            let stats = engine.statistics
            XCTAssertGreaterThan(stats.preemptionsTotal, 0, "\(kind)")
            XCTAssertGreaterThan(stats.prefixCacheHitsTotal, 0, "\(kind)")
            XCTAssertEqual(engine.freeBlocks, engine.cost.kvCacheBlocks, "\(kind)")
            let cache = try XCTUnwrap(engine.prefixCache)
            XCTAssertEqual(cache.evictableCount, cache.count, "\(kind): no block is left held")
            XCTAssertLessThanOrEqual(cache.count, engine.cost.kvCacheBlocks, "\(kind)")
        }
    }

    func testVirtualTimeRecordsCarryCachedTokensOnlyWithTheCache() throws {
        let spec = WorkloadSpec(lengths: .distributions(prompt: .fixed(1200), output: .fixed(2)),
                                sharedPrefix: SharedPrefix(count: 1, tokens: 1024, fraction: 1), seed: 1)
        let plan = try spec.plan(rate: 1, duration: 5)
        var config = SimulatorConfig(hardware: .h100, model: .llama3_8b, seed: 1, prefixCaching: true)
        let cached = try simulateInVirtualTime(plan, config: config)
        XCTAssertEqual(cached.first?.cachedPromptTokens, 0, "the first request finds the cache empty")
        XCTAssertTrue(cached.dropFirst().allSatisfy { $0.cachedPromptTokens == 1024 }, "\(cached.map(\.cachedPromptTokens))")
        config.prefixCaching = false
        XCTAssertTrue(try simulateInVirtualTime(plan, config: config).allSatisfy { $0.cachedPromptTokens == nil })
    }
}
