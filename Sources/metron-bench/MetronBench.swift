// Benchmarks that print figures; never run as tests. See bench/run.sh and docs/BENCHMARKS.md.
import ArgumentParser
import Foundation

@main
struct MetronBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metron-bench",
        abstract: "Benchmarks of metrics and of the capacity search that print figures (bench/run.sh).",
        subcommands: [
            GenerateRecords.self, SummarizeRecords.self, ComputeRecords.self,
            AccuracyBenchmark.self, PairingBenchmark.self, ProbeSpread.self, ControlVariates.self,
        ])

    func run() throws { throw ValidationError("give a subcommand") }

    /// Bad usage exits 2 (ArgumentParser's is 64); a failing benchmark prints its name and the error
    /// and exits 1.
    static func main() async {
        let parsed: ParsableCommand
        do { parsed = try parseAsRoot() } catch { exitForUsage(error) }
        do {
            var command = parsed
            if var asyncCommand = command as? AsyncParsableCommand { try await asyncCommand.run() } else { try command.run() }
        } catch let error where exitCode(for: error) == .failure {
            let name = type(of: parsed).configuration.commandName ?? ""
            FileHandle.standardError.write(Data("metron-bench \(name): \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            exitForUsage(error)
        }
    }

    static func exitForUsage(_ error: Error) -> Never {
        guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
        FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
        Foundation.exit(2)
    }
}
