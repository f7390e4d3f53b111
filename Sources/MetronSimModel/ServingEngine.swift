/// A request as the serving engine sees it.
public struct ServingRequest: Sendable, Equatable {
    public var id: Int
    public var promptTokens: Int
    public var outputTokens: Int
    /// The identities of the prompt's full KV blocks (`PromptBlocks`), which prefix caching matches;
    /// ignored when it is off, and empty blocks nothing.
    public var blockHashes: [UInt64]

    public init(id: Int, promptTokens: Int, outputTokens: Int, blockHashes: [UInt64] = []) {
        self.id = id
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.blockHashes = blockHashes
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
    /// Prompt tokens whose KV came from the prefix cache when the request was first admitted.
    public var cachedPromptTokens = 0
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
public struct ServingEngineStats: Sendable, Equatable {
    public var running: Int
    public var waiting: Int
    public var kvCacheUsage: Double
    public var promptTokensTotal: Int
    public var generationTokensTotal: Int
    public var preemptionsTotal: Int
    /// Prompt tokens looked up in the prefix cache at admission, and those found (vLLM counts tokens).
    public var prefixCacheQueriesTotal = 0
    public var prefixCacheHitsTotal = 0
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
        /// KV blocks held, `heldHashes` (shared through the prefix cache) included.
        var blocks = 0
        var blockHashes: [UInt64] = []
        var heldHashes: [UInt64] = []
        /// The first prompt block not yet offered to the prefix cache.
        var nextBlockToCache = 0
        /// Set at first admission.
        var cachedPromptTokens: Int?
        var prefilling: Bool { computed < prefillTarget }
    }

    // Internal rather than private: the schedulers (Schedulers.swift) plan from and update them.
    var sequences: [Int: Sequence] = [:]
    /// Admission order; preemption takes the youngest.
    var running: [Int] = []
    var waiting = RequestQueue()
    /// Blocks a new allocation may take: empty ones and the prefix cache's evictable ones.
    var freeBlocks: Int
    var prefixCache: PrefixCache?
    var stats = (prompt: 0, generation: 0, preemptions: 0, prefixQueries: 0, prefixHits: 0)
    private var inFlight = false

    public init(config: SimulatorConfig) throws {
        self.config = config
        cost = try config.costModel()
        freeBlocks = cost.kvCacheBlocks
        if config.prefixCaching { prefixCache = PrefixCache() }
    }

    public var isIdle: Bool { running.isEmpty && waiting.isEmpty }

    public var statistics: ServingEngineStats {
        let total = cost.kvCacheBlocks
        return ServingEngineStats(
            running: running.count, waiting: waiting.count,
            kvCacheUsage: total > 0 ? Double(total - freeBlocks) / Double(total) : 0,
            promptTokensTotal: stats.prompt, generationTokensTotal: stats.generation,
            preemptionsTotal: stats.preemptions, prefixCacheQueriesTotal: stats.prefixQueries,
            prefixCacheHitsTotal: stats.prefixHits)
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
            prefillTarget: request.promptTokens, blockHashes: prefixCache == nil ? [] : request.blockHashes)
        waiting.append(request.id)
        stats.prompt += request.promptTokens
        return nil
    }

    /// Drops a live request (a client that went away), freeing its cache.
    public mutating func cancel(requestID: Int) {
        guard let seq = sequences.removeValue(forKey: requestID) else { return }
        releaseBlocks(of: seq)
        if let i = running.firstIndex(of: requestID) { running.remove(at: i) } else { waiting.remove(requestID) }
    }

    var watermarkBlocks: Int { Int(Double(cost.kvCacheBlocks) * config.scheduler.watermark) }
    func blocks(_ tokens: Int) -> Int { (tokens + CostModel.blockTokens - 1) / CostModel.blockTokens }

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
                if prefixCache != nil { cacheComputedBlocks(of: id) }
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
            emitted.append(
                TokenEmission(
                    requestID: id, index: seq.generated - 1, finished: finished,
                    cachedPromptTokens: seq.cachedPromptTokens ?? 0))
            if finished {
                releaseBlocks(of: seq)
                sequences[id] = nil
                running.remove(at: running.firstIndex(of: id)!)
            } else {
                sequences[id] = seq
            }
        }
        return emitted
    }
}
