import ArgumentParser
import Foundation
import MetronLoad
import MetronModel
import MetronSearch
import MetronSweep
import MetronSimModel

/// The one system a `search` or `profile` measures: a server, or the built-in simulator.
struct SystemOptions: ParsableArguments {
    @Option(help: "Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")
    var url: String?

    @Option(help: "Model name sent to the server (with --url).")
    var model: String?

    @Option(help: "The server's API (with --url): completions or chat (which streams reasoning apart from the answer).")
    var api: APIKind?

    @Option(help: "Environment variable holding the server's API key.")
    var apiKeyEnv: String?

    @Option(help: "File holding the server's API key.")
    var apiKeyFile: String?

    @Option(help: "Measure the built-in simulator with this hardware profile (A100, H100, H200, L40S) instead of --url.")
    var simHardware: String?

    @Option(help: "The simulator's model profile (llama-3-8b, llama-3-70b, mixtral-8x7b, yi-34b).")
    var simModel = "llama-3-8b"

    @Option(help: "The simulator's scheduler: vllm or sarathi.")
    var scheduler: SchedulerKind = .vllm

    @Option(help: "The simulator's tensor-parallel degree.")
    var tp = 1

    @Flag(help: "The simulator reuses the KV cache of prompts' shared leading blocks (vLLM's prefix caching).")
    var simPrefixCaching = false

    @Option(help: ArgumentHelp(
        "The simulator reasons for this many of each answer's max_tokens first, streamed over the chat API: "
            + "N, fixed:N, uniform:MIN:MAX or zipf:MIN:MAX:THETA, 0 or more.", valueName: "distribution"))
    var simReasoningTokens: String?

    @Option(help: "Name of the system in results (default: derived from the target).")
    var name: String?

    func validate() throws {
        switch (url, simHardware) {
        case (nil, nil): throw ValidationError("give --url (a server) or --sim-hardware (the built-in simulator)")
        case (.some, .some): throw ValidationError("give either --url or --sim-hardware, not both")
        default: break
        }
        if url != nil, model == nil { throw ValidationError("--url needs --model (the model name the server expects)") }
        if apiKeyEnv != nil, apiKeyFile != nil { throw ValidationError("give either --api-key-env or --api-key-file, not both") }
        if tp < 1 { throw ValidationError("--tp must be at least 1, got \(tp)") }
        if url != nil, simPrefixCaching { throw ValidationError("--sim-prefix-caching applies to the simulator (--sim-hardware), not --url") }
        if url != nil, simReasoningTokens != nil {
            throw ValidationError("--sim-reasoning-tokens applies to the simulator (--sim-hardware), not --url")
        }
        if simHardware != nil, api != nil {
            throw ValidationError("--api applies to a server (--url); the simulator is measured over chat when it reasons")
        }
        if let simReasoningTokens { _ = try WorkloadOptions.length(simReasoningTokens, flag: "--sim-reasoning-tokens", atLeast: 0) }
        if let name, name.isEmpty || name.contains("/") { throw ValidationError("--name must be non-empty, without '/'") }
    }

    func system() throws -> SystemSpec {
        if let url {
            guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil
            else { throw ValidationError("--url \(url): expected http(s)://host[:port][/path]") }
            let server = ServerSpec(url: parsed, model: model, apiKeyEnv: apiKeyEnv, apiKeyFile: apiKeyFile, api: api ?? .completions)
            return SystemSpec(name: name ?? SystemSpec.defaultName(parsed.host!, parsed.port.map(String.init), model), kind: .server(server))
        }
        var config: SimulatorConfig
        do {
            config = try SimulatorConfig.builtIn(
                hardware: simHardware!, model: simModel, tensorParallel: tp, scheduler: SchedulerConfig(kind: scheduler))
            config.prefixCaching = simPrefixCaching
            config.reasoningTokens = try simReasoningTokens.map {
                try WorkloadOptions.length($0, flag: "--sim-reasoning-tokens", atLeast: 0)
            }
            _ = try config.costModel()
        } catch {
            throw ValidationError("\(error)")
        }
        let hardware = config.hardware.name
        return SystemSpec(
            name: name
                ?? SystemSpec.defaultName(
                    hardware, config.model.name, "tp\(tp)", config.scheduler.kind.rawValue,
                    simPrefixCaching ? "prefix-caching" : nil, simReasoningTokens.map { "reasoning-\($0)" }),
            kind: .simulator(config), hardware: hardware, gpus: tp)
    }
}

extension SchedulerKind: ExpressibleByArgument {}
extension SearchStrategy: ExpressibleByArgument {}
