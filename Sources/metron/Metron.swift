import ArgumentParser
import Foundation
import MetronVersion

@main
struct Metron: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metron",
        abstract: "Capacity search for LLM inference servers under a fluidity-index SLO.",
        version: MetronVersion.description,
        subcommands: [
            FluidityCommand.self,
            ServeSimCommand.self,
            ValidateCommand.self,
            RunCommand.self,
            MergeCommand.self,
            ReportCommand.self,
            SweepCommand.self,
            SearchCommand.self,
            ProfileCommand.self,
            ProbeStepCommand.self,
        ])

    /// Bad usage exits with status 2 (not ArgumentParser's 64), so scripts can tell it from failures.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
