import ArgumentParser
import Foundation
import MetronSim
import MetronSimModel
import MetronSweep

struct ServeSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-sim",
        abstract: "Run a simulated OpenAI-compatible LLM server whose timing follows a roofline serving model.",
        discussion: """
            Prints one line, "listening on http://HOST:PORT", once the server accepts connections; stops \
            cleanly on SIGINT or SIGTERM. The formulas, constants and endpoints are in docs/SIMULATOR.md.
            """)

    @OptionGroup var deployment: SimulatorDeploymentOptions

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

    @OptionGroup var faults: FaultOptions

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
        let faults = self.faults.config
        var problems: [String] = []
        var config: SimulatorConfig
        do {
            config = try deployment.simulatorConfig()
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

    func run() async throws {
        if printCalibration {
            print("Yi-34B prefill on 2 x H100 (paper's figure vs this model):")
            print(Calibration.table(try Calibration.yi34bPrefill()))
            print("\nStandard constants on some deployments:")
            print(try Calibration.deploymentTable())
            return
        }
        // Caught before the server starts, so that a signal while it starts is not fatal.
        TerminationSignals.catching([SIGINT, SIGTERM])
        let server = try await SimulatorServer.start(try options())
        // Unbuffered, so a parent process reading the pipe sees the line at once.
        FileHandle.standardOutput.write(Data("listening on \(server.url)\n".utf8))
        let signal = await TerminationSignals.wait()
        FileHandle.standardError.write(Data("serve-sim: signal \(signal), stopping\n".utf8))
        try await server.stop()
    }
}
