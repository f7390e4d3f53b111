import MetronModel

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
    /// Reuse the KV blocks of earlier prompts' identical leading blocks (vLLM's automatic prefix
    /// caching); off by default.
    public var prefixCaching: Bool
    /// How many of each request's output tokens the model spends reasoning before its answer
    /// (`ReasoningDraws`); nil: no reasoning.
    public var reasoningTokens: LengthDistribution?

    public init(
        hardware: HardwareProfile, model: ModelProfile, tensorParallel: Int = 1,
        scheduler: SchedulerConfig = SchedulerConfig(kind: .vllm), efficiency: EfficiencyConstants = .standard,
        seed: UInt64 = 1, prefixCaching: Bool = false, reasoningTokens: LengthDistribution? = nil
    ) {
        self.hardware = hardware
        self.model = model
        self.tensorParallel = tensorParallel
        self.scheduler = scheduler
        self.efficiency = efficiency
        self.seed = seed
        self.prefixCaching = prefixCaching
        self.reasoningTokens = reasoningTokens
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
        case tensorParallel = "tensor_parallel", prefixCaching = "prefix_caching", reasoningTokens = "reasoning_tokens"
    }

    /// `prefix_caching` and `reasoning_tokens` are written only when set, so a configuration without
    /// them encodes (and is identified in results) as before they existed.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(hardware, forKey: .hardware)
        try c.encode(model, forKey: .model)
        try c.encode(tensorParallel, forKey: .tensorParallel)
        try c.encode(scheduler, forKey: .scheduler)
        try c.encode(efficiency, forKey: .efficiency)
        try c.encode(seed, forKey: .seed)
        if prefixCaching { try c.encode(true, forKey: .prefixCaching) }
        try c.encodeIfPresent(reasoningTokens, forKey: .reasoningTokens)
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
            seed: try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1,
            prefixCaching: try c.decodeIfPresent(Bool.self, forKey: .prefixCaching) ?? false,
            reasoningTokens: try c.decodeIfPresent(LengthDistribution.self, forKey: .reasoningTokens))
        if let problem = reasoningTokens?.problem(atLeast: 0) {
            throw DecodingError.dataCorruptedError(forKey: .reasoningTokens, in: c, debugDescription: "reasoning \(problem)")
        }
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
        let schedulerProblems = scheduler.problems() + (reasoningTokens?.problem(atLeast: 0).map { ["reasoning \($0)"] } ?? [])
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
