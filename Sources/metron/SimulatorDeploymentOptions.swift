import ArgumentParser
import Foundation
import MetronSimModel

/// The simulated deployment: built-in profiles and a scheduler from flags, or a JSON configuration.
struct SimulatorDeploymentOptions: ParsableArguments {
    @Option(help: "GPU profile: \(HardwareProfile.builtIn.map(\.name).joined(separator: ", ")) (default H100).")
    var hardware: String?

    @Option(help: "Model profile: \(ModelProfile.builtIn.map(\.name).joined(separator: ", ")) (default llama-3-8b).")
    var model: String?

    @Option(help: "Scheduler: vllm (prefill-first, the default) or sarathi (chunked prefill).")
    var scheduler: String?

    @Option(name: .customLong("tp"), help: "Tensor-parallel degree (GPUs, default 1).")
    var tensorParallel: Int?

    @Option(help: "Most sequences running at once (default 256).")
    var maxBatchSize: Int?

    @Option(
        help: """
            A JSON simulator configuration (hardware, model, tensor_parallel, scheduler, efficiency, seed, \
            prefix_caching; see docs/SIMULATOR.md) instead of the profile and scheduler flags.
            """)
    var config: String?

    @Option(help: "vllm: most prompt tokens per prefill iteration (default: the model's maximum length).")
    var maxBatchedTokens: Int?

    @Option(
        name: [.customLong("token-budget"), .customLong("chunk-size")],
        help: "sarathi: tokens per iteration, decodes included (default 512).")
    var tokenBudget: Int?

    @Flag(help: "Reuse the KV cache of prompts' shared leading blocks (vLLM's prefix caching; also prefix_caching in --config).")
    var prefixCaching = false

    @Option(help: ArgumentHelp(
        "Reasoning tokens before each answer, out of its max_tokens: N, fixed:N, uniform:MIN:MAX or zipf:MIN:MAX:THETA, "
            + "0 or more (also reasoning_tokens in --config).", valueName: "distribution"))
    var reasoningTokens: String?

    /// The deployment from the JSON file when one is given, else from the flags.
    func simulatorConfig() throws -> SimulatorConfig {
        var config = try self.config.map(loadConfig) ?? configFromFlags()
        if prefixCaching { config.prefixCaching = true }
        if let reasoningTokens {
            config.reasoningTokens = try WorkloadOptions.length(reasoningTokens, flag: "--reasoning-tokens", atLeast: 0)
        }
        return config
    }

    /// The deployment from the profile and scheduler flags.
    private func configFromFlags() throws -> SimulatorConfig {
        var problems: [String] = []
        let hardwareName = hardware ?? "H100", modelName = model ?? "llama-3-8b"
        let hardwareProfile = HardwareProfile.named(hardwareName)
        if hardwareProfile == nil {
            problems.append(
                "unknown --hardware \(hardwareName); choose one of \(HardwareProfile.builtIn.map(\.name).joined(separator: ", "))")
        }
        let modelProfile = ModelProfile.named(modelName)
        if modelProfile == nil {
            problems.append(
                "unknown --model \(modelName); choose one of \(ModelProfile.builtIn.map(\.name).joined(separator: ", "))")
        }
        let kind = SchedulerKind(rawValue: (scheduler ?? "vllm").lowercased())
        if kind == nil { problems.append("unknown --scheduler \(scheduler ?? ""); choose vllm or sarathi") }
        if kind == .sarathi, maxBatchedTokens != nil {
            problems.append("--max-batched-tokens applies to the vllm scheduler; sarathi uses --token-budget")
        }
        if kind == .vllm, tokenBudget != nil {
            problems.append("--token-budget/--chunk-size applies to the sarathi scheduler; vllm uses --max-batched-tokens")
        }
        guard let hardwareProfile, let modelProfile, let kind, problems.isEmpty else {
            throw ValidationError(problems.joined(separator: "\n"))
        }
        return SimulatorConfig(
            hardware: hardwareProfile, model: modelProfile, tensorParallel: tensorParallel ?? 1,
            scheduler: SchedulerConfig(
                kind: kind, maxBatchSize: maxBatchSize ?? 256, maxBatchedTokens: maxBatchedTokens,
                tokenBudget: tokenBudget ?? 512))
    }

    /// The deployment from a JSON file; the flags it replaces must not be given too.
    private func loadConfig(_ path: String) throws -> SimulatorConfig {
        let replaced: [(String, Bool)] = [
            ("--hardware", hardware != nil), ("--model", model != nil), ("--scheduler", scheduler != nil),
            ("--tp", tensorParallel != nil), ("--max-batch-size", maxBatchSize != nil),
            ("--max-batched-tokens", maxBatchedTokens != nil), ("--token-budget", tokenBudget != nil),
        ]
        let clashes = replaced.filter(\.1).map(\.0)
        if !clashes.isEmpty {
            throw ValidationError("--config sets the deployment; drop \(clashes.joined(separator: ", "))")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--config \(path): no such file or not readable")
        }
        do {
            return try JSONDecoder().decode(SimulatorConfig.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ValidationError("--config \(path): missing \(fieldPath(context.codingPath + [key]))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
            let DecodingError.dataCorrupted(context)
        {
            throw ValidationError("--config \(path): \(fieldPath(context.codingPath)): \(context.debugDescription)")
        }
    }
}

/// A decoding path as `model.hidden_size`.
private func fieldPath(_ path: [any CodingKey]) -> String {
    path.isEmpty ? "the top level" : path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
}
