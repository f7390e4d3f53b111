/// Which iteration-level scheduler the server runs.
public enum SchedulerKind: String, Codable, Sendable, CaseIterable {
    /// vLLM's default: waiting prompts are prefilled whole in a prefill-only iteration; decodes wait.
    case vllm
    /// Sarathi-Serve: decodes every iteration, prompts in chunks filling a per-iteration token budget.
    case sarathi
}

/// The scheduler and its knobs.
public struct SchedulerConfig: Codable, Sendable, Equatable {
    public var kind: SchedulerKind
    /// Most sequences admitted at once (vLLM's max_num_seqs).
    public var maxBatchSize: Int
    /// vllm: most prompt tokens in one prefill iteration (max_num_batched_tokens); nil means the
    /// model's maximum length, vLLM's default when chunked prefill is off.
    public var maxBatchedTokens: Int?
    /// sarathi: tokens per iteration, decodes included (the chunk size).
    public var tokenBudget: Int
    /// Fraction of KV blocks kept free at admission so running decodes can grow (vLLM: 0.01).
    public var watermark: Double

    public init(
        kind: SchedulerKind, maxBatchSize: Int = 256, maxBatchedTokens: Int? = nil, tokenBudget: Int = 512,
        watermark: Double = 0.01
    ) {
        self.kind = kind
        self.maxBatchSize = maxBatchSize
        self.maxBatchedTokens = maxBatchedTokens
        self.tokenBudget = tokenBudget
        self.watermark = watermark
    }

    enum CodingKeys: String, CodingKey {
        case kind, watermark
        case maxBatchSize = "max_batch_size", maxBatchedTokens = "max_batched_tokens", tokenBudget = "token_budget"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            kind: try c.decode(SchedulerKind.self, forKey: .kind),
            maxBatchSize: try c.decodeIfPresent(Int.self, forKey: .maxBatchSize) ?? 256,
            maxBatchedTokens: try c.decodeIfPresent(Int.self, forKey: .maxBatchedTokens),
            tokenBudget: try c.decodeIfPresent(Int.self, forKey: .tokenBudget) ?? 512,
            watermark: try c.decodeIfPresent(Double.self, forKey: .watermark) ?? 0.01)
    }

    public func problems() -> [String] {
        var out: [String] = []
        if maxBatchSize < 1 { out.append("max batch size must be at least 1, got \(maxBatchSize)") }
        if let m = maxBatchedTokens, m < 1 { out.append("max batched tokens must be at least 1, got \(m)") }
        if tokenBudget < 1 { out.append("token budget must be at least 1, got \(tokenBudget)") }
        if !(watermark >= 0 && watermark < 1) { out.append("watermark must be in [0, 1), got \(watermark)") }
        return out
    }
}

/// A whole simulated deployment: hardware, model, parallelism, scheduler, cost constants and the seed of
/// anything random around the model (the HTTP front's faults; the model itself is deterministic).
public struct SimulatorConfig: Codable, Sendable, Equatable {
    public var hardware: HardwareProfile
    public var model: ModelProfile
    public var tensorParallel: Int
    public var scheduler: SchedulerConfig
    public var efficiency: EfficiencyConstants
    public var seed: UInt64

    public init(
        hardware: HardwareProfile, model: ModelProfile, tensorParallel: Int = 1,
        scheduler: SchedulerConfig = SchedulerConfig(kind: .vllm), efficiency: EfficiencyConstants = .standard,
        seed: UInt64 = 1
    ) {
        self.hardware = hardware
        self.model = model
        self.tensorParallel = tensorParallel
        self.scheduler = scheduler
        self.efficiency = efficiency
        self.seed = seed
    }

    /// A configuration from built-in profile names ("H100", "llama-3-8b"); unknown names are reported
    /// with the known ones.
    public static func builtIn(
        hardware: String, model: String, tensorParallel: Int = 1,
        scheduler: SchedulerConfig = SchedulerConfig(kind: .vllm), seed: UInt64 = 1
    ) throws -> SimulatorConfig {
        var problems: [String] = []
        let h = HardwareProfile.named(hardware), m = ModelProfile.named(model)
        if h == nil {
            problems.append(
                "unknown hardware \(hardware); known: \(HardwareProfile.builtIn.map(\.name).joined(separator: ", "))")
        }
        if m == nil {
            problems.append("unknown model \(model); known: \(ModelProfile.builtIn.map(\.name).joined(separator: ", "))")
        }
        guard let h, let m else { throw SimulatorConfigError.invalid(problems) }
        return SimulatorConfig(hardware: h, model: m, tensorParallel: tensorParallel, scheduler: scheduler, seed: seed)
    }

    enum CodingKeys: String, CodingKey {
        case hardware, model, scheduler, efficiency, seed
        case tensorParallel = "tensor_parallel"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            hardware: try Self.decodeProfile(
                c, .hardware, named: HardwareProfile.named, known: HardwareProfile.builtIn.map(\.name)),
            model: try Self.decodeProfile(
                c, .model, named: ModelProfile.named, known: ModelProfile.builtIn.map(\.name)),
            tensorParallel: try c.decodeIfPresent(Int.self, forKey: .tensorParallel) ?? 1,
            scheduler: try c.decodeIfPresent(SchedulerConfig.self, forKey: .scheduler) ?? SchedulerConfig(kind: .vllm),
            efficiency: try c.decodeIfPresent(EfficiencyConstants.self, forKey: .efficiency) ?? .standard,
            seed: try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1)
    }

    /// A profile given whole, or by a built-in profile's name ("hardware: H100").
    private static func decodeProfile<P: Decodable>(
        _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, named: (String) -> P?, known: [String]
    ) throws -> P {
        if let name = try? c.decode(String.self, forKey: key) {
            guard let profile = named(name) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c,
                    debugDescription: "unknown built-in \(key.stringValue) \(name); known: \(known.joined(separator: ", "))")
            }
            return profile
        }
        return try c.decode(P.self, forKey: key)
    }

    /// The cost model, after checking every part of the configuration (all problems reported together).
    public func costModel() throws -> CostModel {
        let schedulerProblems = scheduler.problems()
        do {
            let cost = try CostModel(
                hardware: hardware, model: model, tensorParallel: tensorParallel, efficiency: efficiency)
            if !schedulerProblems.isEmpty { throw SimulatorConfigError.invalid(schedulerProblems) }
            return cost
        } catch let SimulatorConfigError.invalid(problems) {
            throw SimulatorConfigError.invalid(problems + schedulerProblems)
        }
    }
}

/// A request as the serving engine sees it.
public struct ServingRequest: Sendable, Equatable {
    public var id: Int
    public var promptTokens: Int
    public var outputTokens: Int

    public init(id: Int, promptTokens: Int, outputTokens: Int) {
        self.id = id
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
    }
}

/// Why a request can never be served (an HTTP 400 on a real server).
public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    case tooLong(tokens: Int, limit: Int)
    case exceedsKVCache(tokens: Int, capacity: Int)
    case exceedsBatchedTokens(tokens: Int, limit: Int)
    case empty
    /// The server is shutting down.
    case stopping

    public var description: String {
        switch self {
        case let .tooLong(tokens, limit):
            return "this model's maximum context length is \(limit) tokens; the request needs \(tokens)"
        case let .exceedsKVCache(tokens, capacity):
            return "the request needs \(tokens) tokens of KV cache; the server holds \(capacity)"
        case let .exceedsBatchedTokens(tokens, limit):
            return "prompt plus output is \(tokens) tokens; at most \(limit) are prefilled in one iteration"
        case .empty:
            return "prompt and output must each have at least one token"
        case .stopping:
            return "the server is stopping"
        }
    }
}

/// One token leaving the engine at the end of an iteration.
public struct TokenEmission: Sendable, Equatable {
    public var requestID: Int
    /// 0 for the first output token.
    public var index: Int
    /// True for the request's last token.
    public var finished: Bool
}

/// One planned iteration: which sequences run and how much of each.
public struct Iteration: Sendable, Equatable {
    public enum Item: Sendable, Equatable {
        case prefill(requestID: Int, chunk: Int)
        case decode(requestID: Int)
    }
    public var items: [Item]
    public var work: IterationWork
    public var cost: IterationCost
    public var durationS: Double { cost.totalS }
    public var isPrefillOnly: Bool {
        items.allSatisfy { if case .prefill = $0 { return true } else { return false } }
    }
}

/// Counters a server exports (Prometheus /metrics).
public struct EngineStats: Sendable, Equatable {
    public var running: Int
    public var waiting: Int
    public var kvCacheUsage: Double
    public var promptTokensTotal: Int
    public var generationTokensTotal: Int
    public var preemptionsTotal: Int
}

/// Continuous batching over iterations, in no particular time: the caller submits requests, asks for the
/// next iteration, lets its duration pass (virtually or on a clock), then completes it to get the tokens.
/// Value type with no I/O, shared by the virtual-time simulator and the HTTP front.
public struct ServingEngine: Sendable {
    public let config: SimulatorConfig
    public let cost: CostModel

    struct Sequence: Sendable {
        let promptTokens: Int
        let outputTokens: Int
        /// Tokens emitted so far.
        var generated = 0
        /// Tokens to prefill before the next emission: the prompt, or prompt plus output after a
        /// recompute preemption.
        var prefillTarget: Int
        /// Tokens whose KV is in the cache.
        var computed = 0
        var blocks = 0
        var prefilling: Bool { computed < prefillTarget }
    }

    private var sequences: [Int: Sequence] = [:]
    /// Admission order; preemption takes the youngest.
    private var running: [Int] = []
    private var waiting = RequestQueue()
    private var freeBlocks: Int
    private var stats = (prompt: 0, generation: 0, preemptions: 0)
    private var inFlight = false

    public init(config: SimulatorConfig) throws {
        self.config = config
        cost = try config.costModel()
        freeBlocks = cost.kvCacheBlocks
    }

    public var isIdle: Bool { running.isEmpty && waiting.isEmpty }

    public var statistics: EngineStats {
        let total = cost.kvCacheBlocks
        return EngineStats(
            running: running.count, waiting: waiting.count,
            kvCacheUsage: total > 0 ? Double(total - freeBlocks) / Double(total) : 0,
            promptTokensTotal: stats.prompt, generationTokensTotal: stats.generation,
            preemptionsTotal: stats.preemptions)
    }

    /// Largest prompt-token batch of one vllm prefill iteration.
    public var maxBatchedTokens: Int { config.scheduler.maxBatchedTokens ?? max(config.model.maxModelLen, 2048) }

    /// Why the request can never run, or nil when it can.
    public func rejection(promptTokens: Int, outputTokens: Int) -> Rejection? {
        let total = promptTokens + outputTokens
        if promptTokens < 1 || outputTokens < 1 { return .empty }
        if total > config.model.maxModelLen { return .tooLong(tokens: total, limit: config.model.maxModelLen) }
        if blocks(total) + watermarkBlocks > cost.kvCacheBlocks {
            return .exceedsKVCache(tokens: total, capacity: cost.kvCacheTokens)
        }
        // A preempted request re-prefills its prompt plus output, so the whole sequence must fit a batch.
        if config.scheduler.kind == .vllm, total > maxBatchedTokens {
            return .exceedsBatchedTokens(tokens: total, limit: maxBatchedTokens)
        }
        return nil
    }

    /// Queues a request, or says why it can never run. Ids must be unique among live requests.
    public mutating func submit(_ request: ServingRequest) -> Rejection? {
        if let why = rejection(promptTokens: request.promptTokens, outputTokens: request.outputTokens) { return why }
        precondition(sequences[request.id] == nil, "request id \(request.id) is already live")
        sequences[request.id] = Sequence(
            promptTokens: request.promptTokens, outputTokens: request.outputTokens,
            prefillTarget: request.promptTokens)
        waiting.append(request.id)
        stats.prompt += request.promptTokens
        return nil
    }

    /// Drops a live request (a client that went away), freeing its cache.
    public mutating func cancel(requestID: Int) {
        guard let seq = sequences.removeValue(forKey: requestID) else { return }
        freeBlocks += seq.blocks
        if let i = running.firstIndex(of: requestID) { running.remove(at: i) } else { waiting.remove(requestID) }
    }

    private var watermarkBlocks: Int { Int(Double(cost.kvCacheBlocks) * config.scheduler.watermark) }
    private func blocks(_ tokens: Int) -> Int { (tokens + CostModel.blockTokens - 1) / CostModel.blockTokens }

    /// The next iteration, or nil when nothing can run. Call `complete` with it before planning another.
    public mutating func planIteration() -> Iteration? {
        precondition(!inFlight, "complete the previous iteration first")
        let items: [Iteration.Item]
        switch config.scheduler.kind {
        case .vllm: items = planPrefillFirst()
        case .sarathi: items = planChunked()
        }
        guard !items.isEmpty else { return nil }
        var work = IterationWork()
        for item in items {
            switch item {
            case let .prefill(id, chunk): work.addPrefill(chunk: chunk, context: sequences[id]!.computed)
            case let .decode(id): work.addDecode(context: sequences[id]!.computed)
            }
        }
        inFlight = true
        return Iteration(items: items, work: work, cost: cost.cost(of: work))
    }

    /// Applies a planned iteration and returns the tokens it emitted, in batch order.
    public mutating func complete(_ iteration: Iteration) -> [TokenEmission] {
        precondition(inFlight, "no iteration is in flight")
        inFlight = false
        var emitted: [TokenEmission] = []
        emitted.reserveCapacity(iteration.items.count)
        for item in iteration.items {
            let id: Int
            switch item {
            case let .prefill(rid, chunk):
                id = rid
                // A sequence cancelled mid-iteration has simply gone.
                guard sequences[id] != nil else { continue }
                sequences[id]!.computed += chunk
                if sequences[id]!.prefilling { continue }
            case let .decode(rid):
                id = rid
                guard sequences[id] != nil else { continue }
                sequences[id]!.computed += 1
            }
            var seq = sequences[id]!
            seq.generated += 1
            stats.generation += 1
            let finished = seq.generated >= seq.outputTokens
            emitted.append(TokenEmission(requestID: id, index: seq.generated - 1, finished: finished))
            if finished {
                freeBlocks += seq.blocks
                sequences[id] = nil
                running.remove(at: running.firstIndex(of: id)!)
            } else {
                sequences[id] = seq
            }
        }
        return emitted
    }

    /// Admits the waiting head if it fits the batch and the cache; allocates its whole prefill target.
    private mutating func admitHead(tokenLimit: Int) -> Int? {
        guard let id = waiting.first, running.count < config.scheduler.maxBatchSize else { return nil }
        let target = sequences[id]!.prefillTarget
        guard target <= tokenLimit else { return nil }
        let need = blocks(target)
        guard need + watermarkBlocks <= freeBlocks else { return nil }
        waiting.removeFirst()
        freeBlocks -= need
        sequences[id]!.blocks = need
        running.append(id)
        return id
    }

    /// Makes room for one more token of `id`, preempting the youngest sequences (recompute) as needed.
    /// False when `id` itself had to be preempted.
    private mutating func reserveDecodeSlot(_ id: Int) -> Bool {
        let need = blocks(sequences[id]!.computed + 1) - sequences[id]!.blocks
        if need <= 0 { return true }
        while freeBlocks < need {
            let victim = running.last!
            preempt(victim)
            if victim == id { return false }
        }
        freeBlocks -= need
        sequences[id]!.blocks += need
        return true
    }

    /// Recompute preemption: the cache is dropped and the sequence waits at the front of the queue to
    /// prefill its prompt and the tokens it already produced.
    private mutating func preempt(_ id: Int) {
        var seq = sequences[id]!
        freeBlocks += seq.blocks
        seq.blocks = 0
        seq.computed = 0
        seq.prefillTarget = seq.promptTokens + seq.generated
        sequences[id] = seq
        running.removeAll { $0 == id }
        waiting.prepend(id)
        stats.preemptions += 1
    }

    private mutating func planPrefillFirst() -> [Iteration.Item] {
        var items: [Iteration.Item] = []
        var budget = maxBatchedTokens
        while let id = admitHead(tokenLimit: budget) {
            let target = sequences[id]!.prefillTarget
            items.append(.prefill(requestID: id, chunk: target))
            budget -= target
        }
        if !items.isEmpty { return items }
        var index = 0
        while index < running.count {
            let id = running[index]
            if reserveDecodeSlot(id) {
                items.append(.decode(requestID: id))
                index += 1
            }
        }
        return items
    }

    private mutating func planChunked() -> [Iteration.Item] {
        var items: [Iteration.Item] = []
        var budget = config.scheduler.tokenBudget
        // Decodes first, never stalled.
        var index = 0
        while index < running.count {
            let id = running[index]
            if sequences[id]!.prefilling { index += 1; continue }
            if reserveDecodeSlot(id) {
                items.append(.decode(requestID: id))
                budget -= 1
                index += 1
            }
        }
        // Then prompts already under way, then new ones, in chunks filling what is left.
        for id in running where budget > 0 && sequences[id]!.prefilling {
            let seq = sequences[id]!
            let chunk = min(seq.prefillTarget - seq.computed, budget)
            items.append(.prefill(requestID: id, chunk: chunk))
            budget -= chunk
        }
        while budget > 0, let id = admitHead(tokenLimit: .max) {
            let chunk = min(sequences[id]!.prefillTarget, budget)
            items.append(.prefill(requestID: id, chunk: chunk))
            budget -= chunk
        }
        return items
    }
}

/// FIFO of request ids with cheap removal at the front and re-insertion there after preemption.
struct RequestQueue: Sendable {
    private var storage: [Int] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var count: Int { storage.count - head }
    var first: Int? { isEmpty ? nil : storage[head] }

    mutating func append(_ id: Int) { storage.append(id) }

    mutating func removeFirst() {
        head += 1
        if head > 1024, head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }

    mutating func prepend(_ id: Int) {
        if head > 0 {
            head -= 1
            storage[head] = id
        } else {
            storage.insert(id, at: 0)
        }
    }

    mutating func remove(_ id: Int) {
        if let i = storage[head...].firstIndex(of: id) { storage.remove(at: i) }
    }
}
