/// One accelerator, as its vendor datasheet describes it. Field names carry their units so a sweep file
/// reads plainly; the `...PerSecond`/`bytes` accessors give SI values to the cost model.
public struct HardwareProfile: Codable, Sendable, Equatable {
    public var name: String
    /// Peak dense BF16 tensor throughput of one GPU (no structured sparsity), in TFLOP/s.
    public var peakTFLOPS: Double
    /// Peak memory bandwidth of one GPU, in GB/s (10^9 bytes).
    public var memoryBandwidthGBs: Double
    /// Memory of one GPU, in GB (10^9 bytes).
    public var memoryGB: Double
    /// Per-GPU, per-direction bandwidth of the link used for tensor-parallel all-reduces, in GB/s.
    public var interconnectGBs: Double
    /// Fixed latency of one all-reduce, in microseconds.
    public var allReduceLatencyUs: Double

    public init(
        name: String, peakTFLOPS: Double, memoryBandwidthGBs: Double, memoryGB: Double,
        interconnectGBs: Double, allReduceLatencyUs: Double = 10
    ) {
        self.name = name
        self.peakTFLOPS = peakTFLOPS
        self.memoryBandwidthGBs = memoryBandwidthGBs
        self.memoryGB = memoryGB
        self.interconnectGBs = interconnectGBs
        self.allReduceLatencyUs = allReduceLatencyUs
    }

    enum CodingKeys: String, CodingKey {
        case name
        case peakTFLOPS = "peak_tflops", memoryBandwidthGBs = "memory_bandwidth_gb_s", memoryGB = "memory_gb"
        case interconnectGBs = "interconnect_gb_s", allReduceLatencyUs = "all_reduce_latency_us"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        peakTFLOPS = try c.decode(Double.self, forKey: .peakTFLOPS)
        memoryBandwidthGBs = try c.decode(Double.self, forKey: .memoryBandwidthGBs)
        memoryGB = try c.decode(Double.self, forKey: .memoryGB)
        // A single-GPU system never all-reduces, so a sweep file may leave the link out.
        interconnectGBs = try c.decodeIfPresent(Double.self, forKey: .interconnectGBs) ?? 64
        allReduceLatencyUs = try c.decodeIfPresent(Double.self, forKey: .allReduceLatencyUs) ?? 10
    }

    public var peakFlopsPerSecond: Double { peakTFLOPS * 1e12 }
    public var memoryBytesPerSecond: Double { memoryBandwidthGBs * 1e9 }
    public var memoryBytes: Double { memoryGB * 1e9 }
    public var interconnectBytesPerSecond: Double { interconnectGBs * 1e9 }

    /// Problems that make the profile unusable, all at once.
    public func problems() -> [String] {
        var out: [String] = []
        if name.isEmpty { out.append("hardware name is empty") }
        for (field, value) in [
            ("peak_tflops", peakTFLOPS), ("memory_bandwidth_gb_s", memoryBandwidthGBs), ("memory_gb", memoryGB),
            ("interconnect_gb_s", interconnectGBs),
        ] where !(value > 0 && value.isFinite) {
            out.append("hardware \(name): \(field) must be positive, got \(value)")
        }
        if !(allReduceLatencyUs >= 0 && allReduceLatencyUs.isFinite) {
            out.append("hardware \(name): all_reduce_latency_us must be >= 0, got \(allReduceLatencyUs)")
        }
        return out
    }
}

/// A decoder-only transformer, from its published configuration (`config.json`).
public struct ModelProfile: Codable, Sendable, Equatable {
    public var name: String
    public var layers: Int
    public var hiddenSize: Int
    public var attentionHeads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var vocabSize: Int
    /// All parameters, in billions: what the GPUs must hold.
    public var paramsBillion: Double
    /// Parameters used per token, in billions (below the total for mixture-of-experts models).
    public var activeParamsBillion: Double
    /// Experts per MoE layer and experts routed per token (1 and 1 for a dense model).
    public var experts: Int
    public var expertsPerToken: Int
    /// Bytes per weight and per KV-cache element (2 for BF16/FP16).
    public var dtypeBytes: Int
    /// Longest sequence (prompt plus output) the server accepts.
    public var maxModelLen: Int

    public init(
        name: String, layers: Int, hiddenSize: Int, attentionHeads: Int, kvHeads: Int, headDim: Int? = nil,
        vocabSize: Int, paramsBillion: Double, activeParamsBillion: Double? = nil, experts: Int = 1,
        expertsPerToken: Int = 1, dtypeBytes: Int = 2, maxModelLen: Int
    ) {
        self.name = name
        self.layers = layers
        self.hiddenSize = hiddenSize
        self.attentionHeads = attentionHeads
        self.kvHeads = kvHeads
        self.headDim = headDim ?? (attentionHeads > 0 ? hiddenSize / attentionHeads : 0)
        self.vocabSize = vocabSize
        self.paramsBillion = paramsBillion
        self.activeParamsBillion = activeParamsBillion ?? paramsBillion
        self.experts = experts
        self.expertsPerToken = expertsPerToken
        self.dtypeBytes = dtypeBytes
        self.maxModelLen = maxModelLen
    }

    enum CodingKeys: String, CodingKey {
        case name, layers, experts
        case hiddenSize = "hidden_size", attentionHeads = "attention_heads", kvHeads = "kv_heads"
        case headDim = "head_dim", vocabSize = "vocab_size", paramsBillion = "params_billion"
        case activeParamsBillion = "active_params_billion", expertsPerToken = "experts_per_token"
        case dtypeBytes = "dtype_bytes", maxModelLen = "max_model_len"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let heads = try c.decode(Int.self, forKey: .attentionHeads)
        let hidden = try c.decode(Int.self, forKey: .hiddenSize)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            layers: try c.decode(Int.self, forKey: .layers),
            hiddenSize: hidden,
            attentionHeads: heads,
            kvHeads: try c.decodeIfPresent(Int.self, forKey: .kvHeads) ?? heads,
            headDim: try c.decodeIfPresent(Int.self, forKey: .headDim),
            vocabSize: try c.decode(Int.self, forKey: .vocabSize),
            paramsBillion: try c.decode(Double.self, forKey: .paramsBillion),
            activeParamsBillion: try c.decodeIfPresent(Double.self, forKey: .activeParamsBillion),
            experts: try c.decodeIfPresent(Int.self, forKey: .experts) ?? 1,
            expertsPerToken: try c.decodeIfPresent(Int.self, forKey: .expertsPerToken) ?? 1,
            dtypeBytes: try c.decodeIfPresent(Int.self, forKey: .dtypeBytes) ?? 2,
            maxModelLen: try c.decode(Int.self, forKey: .maxModelLen))
    }

    public var totalParams: Double { paramsBillion * 1e9 }
    public var activeParams: Double { activeParamsBillion * 1e9 }
    public var weightBytes: Double { totalParams * Double(dtypeBytes) }

    /// Bytes of KV cache one token occupies across all layers: a key and a value vector per KV head.
    public var kvBytesPerToken: Double { Double(2 * layers * kvHeads * headDim * dtypeBytes) }

    /// Problems that make the profile unusable, all at once.
    public func problems() -> [String] {
        var out: [String] = []
        if name.isEmpty { out.append("model name is empty") }
        for (field, value) in [
            ("layers", layers), ("hidden_size", hiddenSize), ("attention_heads", attentionHeads),
            ("kv_heads", kvHeads), ("head_dim", headDim), ("vocab_size", vocabSize), ("experts", experts),
            ("experts_per_token", expertsPerToken), ("dtype_bytes", dtypeBytes), ("max_model_len", maxModelLen),
        ] where value < 1 {
            out.append("model \(name): \(field) must be at least 1, got \(value)")
        }
        if !(paramsBillion > 0 && paramsBillion.isFinite) {
            out.append("model \(name): params_billion must be positive, got \(paramsBillion)")
        }
        if !(activeParamsBillion > 0 && activeParamsBillion <= paramsBillion) {
            out.append("model \(name): active_params_billion must be in (0, params_billion], got \(activeParamsBillion)")
        }
        if expertsPerToken > experts {
            out.append("model \(name): experts_per_token (\(expertsPerToken)) exceeds experts (\(experts))")
        }
        if attentionHeads >= 1, kvHeads >= 1, attentionHeads % kvHeads != 0 {
            out.append("model \(name): attention_heads (\(attentionHeads)) must be a multiple of kv_heads (\(kvHeads))")
        }
        return out
    }
}

extension HardwareProfile {
    /// NVIDIA A100 SXM4 80GB datasheet: 312 TFLOPS BF16 dense, 2,039 GB/s HBM2e, NVLink 600 GB/s
    /// (300 GB/s per direction).
    public static let a100 = HardwareProfile(
        name: "A100-80GB", peakTFLOPS: 312, memoryBandwidthGBs: 2039, memoryGB: 80, interconnectGBs: 300)
    /// NVIDIA H100 SXM5 80GB datasheet: 989 TFLOPS BF16 dense (1,979 with sparsity), 3.35 TB/s HBM3,
    /// NVLink 900 GB/s (450 GB/s per direction).
    public static let h100 = HardwareProfile(
        name: "H100-80GB", peakTFLOPS: 989, memoryBandwidthGBs: 3350, memoryGB: 80, interconnectGBs: 450)
    /// NVIDIA H200 SXM datasheet: same compute as H100, 141 GB HBM3e at 4.8 TB/s, NVLink 900 GB/s.
    public static let h200 = HardwareProfile(
        name: "H200", peakTFLOPS: 989, memoryBandwidthGBs: 4800, memoryGB: 141, interconnectGBs: 450)
    /// NVIDIA L40S datasheet: 362 TFLOPS BF16 dense (733 with sparsity), 48 GB GDDR6 at 864 GB/s,
    /// no NVLink: all-reduces cross PCIe Gen4 x16 (64 GB/s, about 32 GB/s per direction).
    public static let l40s = HardwareProfile(
        name: "L40S", peakTFLOPS: 362, memoryBandwidthGBs: 864, memoryGB: 48, interconnectGBs: 32,
        allReduceLatencyUs: 20)

    public static let builtIn: [HardwareProfile] = [a100, h100, h200, l40s]

    /// A built-in profile by name, ignoring case and punctuation ("h100", "H100-80GB", "a100_80gb").
    public static func named(_ name: String) -> HardwareProfile? {
        let key = profileKey(name)
        return builtIn.first { profileKey($0.name) == key || profileKey($0.name).hasPrefix(key) && key.count >= 4 }
    }
}

extension ModelProfile {
    /// meta-llama/Meta-Llama-3-8B config.json: 32 layers, hidden 4096, 32 heads, 8 KV heads, vocab 128,256,
    /// 8,192 positions; 8.03B parameters.
    public static let llama3_8b = ModelProfile(
        name: "llama-3-8b", layers: 32, hiddenSize: 4096, attentionHeads: 32, kvHeads: 8, vocabSize: 128_256,
        paramsBillion: 8.03, maxModelLen: 8192)
    /// meta-llama/Meta-Llama-3-70B config.json: 80 layers, hidden 8192, 64 heads, 8 KV heads; 70.6B parameters.
    public static let llama3_70b = ModelProfile(
        name: "llama-3-70b", layers: 80, hiddenSize: 8192, attentionHeads: 64, kvHeads: 8, vocabSize: 128_256,
        paramsBillion: 70.6, maxModelLen: 8192)
    /// mistralai/Mixtral-8x7B-v0.1 config.json: 32 layers, hidden 4096, 32 heads, 8 KV heads, vocab 32,000,
    /// 8 experts with 2 routed per token, 32,768 positions; 46.7B parameters, 12.9B active per token.
    public static let mixtral8x7b = ModelProfile(
        name: "mixtral-8x7b", layers: 32, hiddenSize: 4096, attentionHeads: 32, kvHeads: 8, vocabSize: 32_000,
        paramsBillion: 46.7, activeParamsBillion: 12.9, experts: 8, expertsPerToken: 2, maxModelLen: 32_768)
    /// 01-ai/Yi-34B-200K config.json: 60 layers, hidden 7168, 56 heads, 8 KV heads, vocab 64,000, 200K
    /// positions; 34.4B parameters. (Yi-34B has the same architecture with 4K positions; the long-context
    /// variant is the one long-prompt studies use.)
    public static let yi34b = ModelProfile(
        name: "yi-34b", layers: 60, hiddenSize: 7168, attentionHeads: 56, kvHeads: 8, vocabSize: 64_000,
        paramsBillion: 34.4, maxModelLen: 200_000)

    public static let builtIn: [ModelProfile] = [llama3_8b, llama3_70b, mixtral8x7b, yi34b]

    /// A built-in profile by name, ignoring case and punctuation ("Llama-3-8B", "llama3_8b").
    public static func named(_ name: String) -> ModelProfile? {
        let key = profileKey(name)
        return builtIn.first { profileKey($0.name) == key }
    }
}

/// Lower-case letters and digits only, so "H100-80GB" and "h100_80gb" name the same profile.
public func profileKey(_ name: String) -> String {
    String(name.lowercased().filter { $0.isLetter || $0.isNumber })
}
