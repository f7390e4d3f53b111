import ArgumentParser
import Foundation
import MetronModel
import MetronSearch
import MetronSweep

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a sweep file without running anything.",
        discussion: """
            Every problem of the file is printed together, as FILE:LINE:COLUMN: what was expected. \
            Exit status 0 when the file is good, 2 when it has problems.
            """)

    @Argument(help: "The sweep file (YAML).")
    var sweepFile: String

    @Flag(help: "Do not require the API key environment variables named in the file to be set.")
    var ignoreEnvironment = false

    func run() throws {
        let sweep: SweepFile
        do {
            sweep = try SweepFile.load(
                path: sweepFile, environment: ignoreEnvironment ? nil : ProcessInfo.processInfo.environment)
        } catch let error as InputFileError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            let n = error.problems.count
            FileHandle.standardError.write(Data("\(n) problem\(n == 1 ? "" : "s") in \(sweepFile); nothing was run\n".utf8))
            throw ExitCode(2)
        }
        let searches = sweep.systems.count * sweep.workloads.count * sweep.slos.count
        print("\(sweepFile): sweep '\(sweep.name)' is valid: \(sweep.systems.count) system(s), \(sweep.workloads.count) workload(s), "
            + "\(sweep.slos.count) SLO(s), \(searches) capacity search(es) with strategy \(sweep.search.strategy.rawValue)")
    }
}
