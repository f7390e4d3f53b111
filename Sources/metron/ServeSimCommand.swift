import ArgumentParser
import Dispatch
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

    @Option(help: "GPU profile: \(HardwareProfile.builtIn.map(\.name).joined(separator: ", ")).")
    var hardware = "H100"

    @Option(help: "Model profile: \(ModelProfile.builtIn.map(\.name).joined(separator: ", ")).")
    var model = "llama-3-8b"

    @Option(help: "Scheduler: vllm (prefill-first) or sarathi (chunked prefill).")
    var scheduler = "vllm"

    @Option(name: .customLong("tp"), help: "Tensor-parallel degree (GPUs).")
    var tensorParallel = 1

    @Option(help: "Most sequences running at once.")
    var maxBatchSize = 256

    @Option(help: "vllm: most prompt tokens per prefill iteration (default: the model's maximum length).")
    var maxBatchedTokens: Int?

    @Option(
        name: [.customLong("token-budget"), .customLong("chunk-size")],
        help: "sarathi: tokens per iteration, decodes included (default 512).")
    var tokenBudget: Int?

    @Option(help: "Seed of the injected faults.")
    var seed: UInt64 = 1

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

    @Flag(help: "Print the model's Yi-34B prefill times on 2 x H100 next to the paper's, then exit.")
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
        var problems: [String] = []
        let hardwareProfile = HardwareProfile.named(hardware)
        if hardwareProfile == nil {
            problems.append(
                "unknown --hardware \(hardware); choose one of \(HardwareProfile.builtIn.map(\.name).joined(separator: ", "))")
        }
        let modelProfile = ModelProfile.named(model)
        if modelProfile == nil {
            problems.append(
                "unknown --model \(model); choose one of \(ModelProfile.builtIn.map(\.name).joined(separator: ", "))")
        }
        let kind = SchedulerKind(rawValue: scheduler.lowercased())
        if kind == nil { problems.append("unknown --scheduler \(scheduler); choose vllm or sarathi") }
        var faults = FaultConfig()
        faults.errorRate = errorRate
        faults.disconnectRate = disconnectRate
        faults.stallRate = stallRate
        faults.stallSeconds = stallSeconds
        faults.malformedRate = malformedRate
        faults.noDoneRate = noDoneRate
        faults.slowHeadersRate = slowHeadersRate
        faults.slowHeadersSeconds = slowHeadersSeconds
        if kind == .sarathi, maxBatchedTokens != nil {
            problems.append("--max-batched-tokens applies to the vllm scheduler; sarathi uses --token-budget")
        }
        if kind == .vllm, tokenBudget != nil {
            problems.append("--token-budget/--chunk-size applies to the sarathi scheduler; vllm uses --max-batched-tokens")
        }
        guard let hardwareProfile, let modelProfile, let kind else {
            throw ValidationError((problems + faults.problems()).joined(separator: "\n"))
        }
        let config = SimulatorConfig(
            hardware: hardwareProfile, model: modelProfile, tensorParallel: tensorParallel,
            scheduler: SchedulerConfig(
                kind: kind, maxBatchSize: maxBatchSize, maxBatchedTokens: maxBatchedTokens,
                tokenBudget: tokenBudget ?? 512),
            seed: seed)
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

    func run() async throws {
        if printCalibration {
            print("Yi-34B prefill on 2 x H100 (paper's figure vs this model):")
            print(Calibration.table(try Calibration.yi34bPrefill()))
            return
        }
        let server = try await SimulatorServer.start(try options())
        // Unbuffered, so a parent process reading the pipe sees the line at once.
        FileHandle.standardOutput.write(Data("listening on \(server.url)\n".utf8))
        let signal = await waitForTermination()
        FileHandle.standardError.write(Data("serve-sim: signal \(signal), stopping\n".utf8))
        try await server.stop()
    }
}

/// Resumes a continuation once, whichever signal comes first.
private final class SignalWaiter: Sendable {
    private let pending = Mutex<CheckedContinuation<Int32, Never>?>(nil)

    func set(_ continuation: CheckedContinuation<Int32, Never>) { pending.withLock { $0 = continuation } }

    func fire(_ signal: Int32) {
        pending.withLock { continuation in
            continuation?.resume(returning: signal)
            continuation = nil
        }
    }
}

/// Suspends until SIGINT or SIGTERM arrives; returns its number.
private func waitForTermination() async -> Int32 {
    let waiter = SignalWaiter()
    let queue = DispatchQueue(label: "metron.signals")
    var sources: [any DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        source.setEventHandler { waiter.fire(sig) }
        sources.append(source)
    }
    let number = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
        waiter.set(continuation)
        sources.forEach { $0.resume() }
    }
    sources.forEach { $0.cancel() }
    return number
}
