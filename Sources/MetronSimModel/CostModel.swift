import Foundation

/// The constants that turn datasheet peaks into achievable rates. Each is a documented assumption
/// (docs/SIMULATOR.md), not a fitted value; a sweep file may override any of them.
public struct EfficiencyConstants: Codable, Sendable, Equatable {
    /// Fraction of peak FLOP/s reached by the dense (GEMM) part of a forward pass.
    public var gemmEfficiency: Double
    /// Fraction of peak FLOP/s reached by attention kernels (FlashAttention-2 reaches about 35 % on H100).
    public var attentionEfficiency: Double
    /// Fraction of peak memory bandwidth reached when streaming weights and KV cache.
    public var memoryEfficiency: Double
    /// Fixed time of every iteration: scheduling, input preparation, sampling, kernel launches (seconds).
    public var iterationOverheadS: Double
    /// Fraction of GPU memory the server may use (vLLM's gpu_memory_utilization).
    public var gpuMemoryUtilization: Double
    /// Memory per GPU kept for activations, CUDA context and workspaces, in GB.
    public var activationReserveGB: Double

    public static let standard = EfficiencyConstants(
        gemmEfficiency: 0.5, attentionEfficiency: 0.35, memoryEfficiency: 0.8, iterationOverheadS: 0.002,
        gpuMemoryUtilization: 0.9, activationReserveGB: 2)

    public init(
        gemmEfficiency: Double, attentionEfficiency: Double, memoryEfficiency: Double, iterationOverheadS: Double,
        gpuMemoryUtilization: Double, activationReserveGB: Double
    ) {
        self.gemmEfficiency = gemmEfficiency
        self.attentionEfficiency = attentionEfficiency
        self.memoryEfficiency = memoryEfficiency
        self.iterationOverheadS = iterationOverheadS
        self.gpuMemoryUtilization = gpuMemoryUtilization
        self.activationReserveGB = activationReserveGB
    }

    enum CodingKeys: String, CodingKey {
        case gemmEfficiency = "gemm_efficiency", attentionEfficiency = "attention_efficiency"
        case memoryEfficiency = "memory_efficiency", iterationOverheadS = "iteration_overhead_s"
        case gpuMemoryUtilization = "gpu_memory_utilization", activationReserveGB = "activation_reserve_gb"
    }

    /// Any field left out of a sweep file keeps its standard value.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let s = Self.standard
        gemmEfficiency = try c.decodeIfPresent(Double.self, forKey: .gemmEfficiency) ?? s.gemmEfficiency
        attentionEfficiency = try c.decodeIfPresent(Double.self, forKey: .attentionEfficiency) ?? s.attentionEfficiency
        memoryEfficiency = try c.decodeIfPresent(Double.self, forKey: .memoryEfficiency) ?? s.memoryEfficiency
        iterationOverheadS = try c.decodeIfPresent(Double.self, forKey: .iterationOverheadS) ?? s.iterationOverheadS
        gpuMemoryUtilization =
            try c.decodeIfPresent(Double.self, forKey: .gpuMemoryUtilization) ?? s.gpuMemoryUtilization
        activationReserveGB = try c.decodeIfPresent(Double.self, forKey: .activationReserveGB) ?? s.activationReserveGB
    }

    public func problems() -> [String] {
        var out: [String] = []
        for (field, value) in [
            ("gemm_efficiency", gemmEfficiency), ("attention_efficiency", attentionEfficiency),
            ("memory_efficiency", memoryEfficiency), ("gpu_memory_utilization", gpuMemoryUtilization),
        ] where !(value > 0 && value <= 1) {
            out.append("\(field) must be in (0, 1], got \(value)")
        }
        if !(iterationOverheadS >= 0 && iterationOverheadS.isFinite) {
            out.append("iteration_overhead_s must be >= 0, got \(iterationOverheadS)")
        }
        if !(activationReserveGB >= 0 && activationReserveGB.isFinite) {
            out.append("activation_reserve_gb must be >= 0, got \(activationReserveGB)")
        }
        return out
    }
}

/// The work of one iteration, reduced to the sums the roofline needs.
public struct IterationWork: Sendable, Equatable {
    /// Tokens whose forward pass runs: prompt-chunk tokens plus one per decode.
    public var tokens = 0
    /// (query, key) pairs the attention computes, causal mask applied.
    public var attentionPairs = 0.0
    /// Tokens of earlier context whose KV cache is read.
    public var kvTokensRead = 0
    /// Sequences in the batch.
    public var sequences = 0

    public init() {}

    /// A prompt chunk of `chunk` tokens after `context` tokens already in the cache.
    public mutating func addPrefill(chunk: Int, context: Int) {
        tokens += chunk
        sequences += 1
        kvTokensRead += context
        attentionPairs += Double(chunk) * Double(context) + Double(chunk) * Double(chunk + 1) / 2
    }

    /// One decode step of a sequence whose cache holds `context` tokens.
    public mutating func addDecode(context: Int) {
        tokens += 1
        sequences += 1
        kvTokensRead += context
        attentionPairs += Double(context + 1)
    }
}

/// The parts of one iteration's time, in seconds.
public struct IterationCost: Sendable, Equatable {
    public var gemmS: Double
    public var attentionS: Double
    public var memoryS: Double
    public var communicationS: Double
    public var overheadS: Double

    public var computeS: Double { gemmS + attentionS }
    /// Roofline: compute and memory traffic overlap, communication and overhead do not.
    public var totalS: Double { max(computeS, memoryS) + communicationS + overheadS }
}

public enum SimulatorConfigError: Error, CustomStringConvertible, Equatable {
    case invalid([String])
    public var description: String {
        switch self { case let .invalid(problems): return problems.joined(separator: "; ") }
    }
}

/// The roofline cost model of one deployment: a model on `tensorParallel` GPUs of one kind.
public struct CostModel: Sendable, Equatable {
    public let hardware: HardwareProfile
    public let model: ModelProfile
    public let tensorParallel: Int
    public let efficiency: EfficiencyConstants

    public init(
        hardware: HardwareProfile, model: ModelProfile, tensorParallel: Int,
        efficiency: EfficiencyConstants = .standard
    ) throws {
        var problems = hardware.problems() + model.problems() + efficiency.problems()
        if tensorParallel < 1 { problems.append("tensor-parallel degree must be at least 1, got \(tensorParallel)") }
        if tensorParallel >= 1, model.kvHeads >= 1, model.kvHeads % tensorParallel != 0,
            tensorParallel % model.kvHeads != 0
        {
            problems.append(
                "tensor-parallel degree \(tensorParallel) does not divide the \(model.kvHeads) KV heads of \(model.name)")
        }
        self.hardware = hardware
        self.model = model
        self.tensorParallel = max(1, tensorParallel)
        self.efficiency = efficiency
        if problems.isEmpty, kvCacheBytes <= model.kvBytesPerToken * Double(Self.blockTokens) {
            let needGB = (model.weightBytes / 1e9).rounded()
            problems.append(
                "\(model.name) (\(needGB) GB of weights) leaves no room for a KV cache on \(tensorParallel) x "
                    + "\(hardware.name) (\(hardware.memoryGB) GB each); use more GPUs")
        }
        if !problems.isEmpty { throw SimulatorConfigError.invalid(problems) }
    }

    /// Tokens per KV-cache block (vLLM's default block size).
    public static let blockTokens = 16

    private var gpus: Double { Double(tensorParallel) }

    /// Bytes left for the KV cache across all GPUs: usable memory minus weights and activation reserve.
    public var kvCacheBytes: Double {
        gpus * (hardware.memoryBytes * efficiency.gpuMemoryUtilization - efficiency.activationReserveGB * 1e9)
            - model.weightBytes
    }

    /// KV-cache capacity in tokens, whole blocks only.
    public var kvCacheTokens: Int { kvCacheBlocks * Self.blockTokens }
    public var kvCacheBlocks: Int {
        max(0, Int(kvCacheBytes / (model.kvBytesPerToken * Double(Self.blockTokens))))
    }

    /// Weight bytes read by an iteration of `tokens` tokens. A MoE layer reads only the experts its
    /// tokens are routed to: with uniform routing an expert is untouched by all tokens with probability
    /// (1 - k/E)^tokens.
    public func weightBytesRead(tokens: Int) -> Double {
        let e = Double(model.experts), k = Double(model.expertsPerToken)
        guard model.experts > model.expertsPerToken, tokens > 0 else { return model.weightBytes }
        let perExpert = (model.totalParams - model.activeParams) / (e - k)
        let shared = model.totalParams - e * perExpert
        let touched = e * (1 - pow(1 - k / e, Double(tokens)))
        return (shared + touched * perExpert) * Double(model.dtypeBytes)
    }

    /// Time of one iteration doing `work`.
    public func cost(of work: IterationWork) -> IterationCost {
        let peak = hardware.peakFlopsPerSecond * gpus
        let gemmFlops = 2 * model.activeParams * Double(work.tokens)
        // QK^T and AV: 2 FLOPs per multiply-add, for every head and layer.
        let attentionFlops =
            4 * Double(model.layers * model.attentionHeads * model.headDim) * work.attentionPairs
        let bytes =
            weightBytesRead(tokens: work.tokens)
            + model.kvBytesPerToken * Double(work.kvTokensRead + work.tokens)
        var communication = 0.0
        if tensorParallel > 1, work.tokens > 0 {
            // Two ring all-reduces of the activations per layer (after attention and after the MLP).
            let payload = Double(work.tokens * model.hiddenSize * model.dtypeBytes)
            let perAllReduce =
                hardware.allReduceLatencyUs * 1e-6
                + 2 * (gpus - 1) / gpus * payload / hardware.interconnectBytesPerSecond
            communication = Double(2 * model.layers) * perAllReduce
        }
        return IterationCost(
            gemmS: gemmFlops / (peak * efficiency.gemmEfficiency),
            attentionS: attentionFlops / (peak * efficiency.attentionEfficiency),
            memoryS: bytes / (hardware.memoryBytesPerSecond * gpus * efficiency.memoryEfficiency),
            communicationS: communication,
            overheadS: work.tokens > 0 ? efficiency.iterationOverheadS : 0)
    }

    /// Time to prefill a whole prompt of `promptTokens` tokens alone in one iteration.
    public func prefillTime(promptTokens: Int) -> Double {
        var work = IterationWork()
        work.addPrefill(chunk: promptTokens, context: 0)
        return cost(of: work).totalS
    }

    /// Time of a decode-only iteration of `batch` sequences each holding `context` tokens.
    public func decodeTime(batch: Int, context: Int) -> Double {
        var work = IterationWork()
        for _ in 0..<batch { work.addDecode(context: context) }
        return cost(of: work).totalS
    }
}
