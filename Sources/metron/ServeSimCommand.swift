import ArgumentParser
import Foundation
import MetronSim
import MetronSimModel
import Synchronization

struct ServeSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-sim",
        abstract: "Run a simulated OpenAI-compatible LLM server whose timing follows a roofline serving model.",
        discussion: """
            Prints one line, "listening on http://HOST:PORT", once the server accepts connections; stops \
            cleanly on SIGINT or SIGTERM. The formulas, constants and endpoints are in docs/SIMULATOR.md.
            """)

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
            A JSON simulator configuration (hardware, model, tensor_parallel, scheduler, efficiency, seed; \
            see docs/SIMULATOR.md) instead of the profile and scheduler flags.
            """)
    var config: String?

    @Option(help: "vllm: most prompt tokens per prefill iteration (default: the model's maximum length).")
    var maxBatchedTokens: Int?

    @Option(
        name: [.customLong("token-budget"), .customLong("chunk-size")],
        help: "sarathi: tokens per iteration, decodes included (default 512).")
    var tokenBudget: Int?

    @Option(help: "Seed of the injected faults (default 1, or the configuration file's).")
    var seed: UInt64?

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind; 0 picks a free one.")
    var port = 0

    @Option(help: "The model name clients use (default: the model profile's name).")
    var servedModelName: String?

    @Option(help: "Write request_id,emission_time_s (CLOCK_MONOTONIC) for every token to this file.")
    var truthLog: String?

    @Option(help: "Probability of answering HTTP 429, 500 or 503.")
    var errorRate = 0.0
    @Option(help: "Probability of closing the connection after half of the tokens.")
    var disconnectRate = 0.0
    @Option(help: "Probability of stalling the stream after half of the tokens.")
    var stallRate = 0.0
    @Option(help: "Length of a stall.")
    var stallSeconds = 1.0
    @Option(help: "Probability of one event that is not valid JSON.")
    var malformedRate = 0.0
    @Option(help: "Probability of ending a stream without [DONE].")
    var noDoneRate = 0.0
    @Option(help: "Probability of holding a request before its response headers.")
    var slowHeadersRate = 0.0
    @Option(help: "Length of a slow-headers delay.")
    var slowHeadersSeconds = 1.0

    @Flag(
        help: "Print the model's Yi-34B prefill times on 2 x H100 next to the paper's, and figures for some deployments, then exit.")
    var printCalibration = false

    /// Bad flags exit with status 2 (the usual status for a command-line usage error), every problem listed.
    func validate() throws {
        if printCalibration { return }
        do {
            _ = try options()
        } catch let error as ValidationError {
            FileHandle.standardError.write(
                Data("Error: \(error.message)\nSee 'metron serve-sim --help' for more information.\n".utf8))
            throw ExitCode(2)
        }
    }

    /// The server options, with every problem of the flags reported together.
    func options() throws -> SimulatorServerOptions {
        var faults = FaultConfig()
        faults.errorRate = errorRate
        faults.disconnectRate = disconnectRate
        faults.stallRate = stallRate
        faults.stallSeconds = stallSeconds
        faults.malformedRate = malformedRate
        faults.noDoneRate = noDoneRate
        faults.slowHeadersRate = slowHeadersRate
        faults.slowHeadersSeconds = slowHeadersSeconds
        var problems: [String] = []
        var config: SimulatorConfig
        do {
            config = try self.config.map(loadConfig) ?? configFromFlags()
        } catch let error as ValidationError {
            throw ValidationError(([error.message] + faults.problems()).joined(separator: "\n"))
        }
        if let seed { config.seed = seed }
        let options = SimulatorServerOptions(
            simulator: config, host: host, port: port, truthLogPath: truthLog, faults: faults,
            servedModelName: servedModelName)
        problems += options.problems()
        if let truthLog {
            let directory = URL(fileURLWithPath: truthLog).deletingLastPathComponent().path
            if !FileManager.default.isWritableFile(atPath: directory) {
                problems.append("--truth-log \(truthLog): directory \(directory) does not exist or is not writable")
            }
        }
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
        return options
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

    func run() async throws {
        if printCalibration {
            print("Yi-34B prefill on 2 x H100 (paper's figure vs this model):")
            print(Calibration.table(try Calibration.yi34bPrefill()))
            print("\nStandard constants on some deployments:")
            print(try Calibration.deploymentTable())
            return
        }
        let signals = TerminationSignals()
        let server = try await SimulatorServer.start(try options())
        // Unbuffered, so a parent process reading the pipe sees the line at once.
        FileHandle.standardOutput.write(Data("listening on \(server.url)\n".utf8))
        let signal = await signals.wait()
        FileHandle.standardError.write(Data("serve-sim: signal \(signal), stopping\n".utf8))
        try await server.stop()
    }
}

/// A decoding path as `model.hidden_size`.
private func fieldPath(_ path: [any CodingKey]) -> String {
    path.isEmpty ? "the top level" : path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
}

/// SIGINT and SIGTERM, caught from creation on (so a signal that comes while the server starts is not
/// fatal); `wait()` returns the first one's number. A plain C handler records it: a handler installed
/// later (a dispatch source is armed asynchronously) could miss a signal that comes early.
private final class TerminationSignals {
    init() {
        _ = receivedTerminationSignal.load(ordering: .relaxed)  // initialised before any handler runs
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { number in
                _ = receivedTerminationSignal.compareExchange(expected: 0, desired: number, ordering: .relaxed)
            }
        }
    }

    func wait() async -> Int32 {
        while true {
            let number = receivedTerminationSignal.load(ordering: .relaxed)
            if number != 0 { return number }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// The first termination signal received, 0 before any; written only by the signal handler.
private let receivedTerminationSignal = Atomic<Int32>(0)
