import ArgumentParser
import Foundation
import MetronModel
import MetronLoad
import MetronSearch
import MetronSweep

struct ProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Fit a prefill-time model: TTFT at a ladder of prompt lengths, one request at a time.",
        discussion: """
            Fits TTFT = c0 + c1 P + c2 P^2 by least squares (GSL) over every sample, prints the residual \
            of each length and saves the model as JSON for `metron search --prefill-model`.
            """)

    @OptionGroup var system: SystemOptions

    @Option(help: "Prompt lengths, comma-separated.")
    var lengths = PrefillLadder.standard.lengths.map(String.init).joined(separator: ",")
    @Option(help: "Requests per length.")
    var requestsPerLength = PrefillLadder.standard.requestsPerLength
    @Option(help: "Where to save the model.")
    var out = "prefill_model.json"
    @Flag(help: "Profile the simulator in virtual time.")
    var simulate = false

    func validate() throws { _ = try ladder() }

    private func ladder() throws -> PrefillLadder {
        let values = lengths.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--lengths must be whole numbers >= 1 separated by commas, got '\(lengths)'")
        }
        guard Set(values).count >= 3 else { throw ValidationError("--lengths needs at least 3 different lengths for a degree-2 fit") }
        guard requestsPerLength >= 1 else { throw ValidationError("--requests-per-length must be at least 1") }
        return PrefillLadder(lengths: values.map { $0! }, requestsPerLength: requestsPerLength)
    }

    func run() async throws {
        let system = try system.system()
        let mode: MeasurementMode = simulate ? .virtual : .http(LoadOptions())
        if let problem = SystemConnections.problems(systems: [system], mode: mode).first { throw ValidationError(problem) }
        let connections = SystemConnections(mode: mode, log: log)
        let model: PrefillModel
        do {
            let runner = try await connections.runner(system: system, workload: WorkloadSpec())
            model = try await PrefillProfiler.profile(try ladder(), runner: runner, system: system.name)
        } catch {
            await connections.shutdown()
            throw error
        }
        await connections.shutdown()
        try model.save(to: URL(fileURLWithPath: out))
        if simulate { print("SIMULATED: virtual-time serving model") }
        print(model.report)
        print("wrote \(out)")
    }
}
