import ArgumentParser
import Foundation
import MetronSweep

/// One task of a probe's srun step (`--launcher srun`): not for use by hand.
struct ProbeStepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe-step", abstract: "Send one task's share of a probe (run by srun for --launcher srun).",
        shouldDisplay: false)

    @Argument(help: "The probe's step directory, written by the searching process.")
    var directory: String

    func run() async throws {
        do {
            let interrupted = try await ProbeStep.runTask(
                in: URL(fileURLWithPath: directory, isDirectory: true), environment: ProcessInfo.processInfo.environment, log: log)
            if interrupted { throw ExitCode(130) }
        } catch let error as ProbeStepError {
            log("metron probe-step: \(error)")
            throw ExitCode(1)
        }
    }
}
