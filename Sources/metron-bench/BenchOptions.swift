import ArgumentParser
import Foundation

/// A comma-separated list of numbers, as in `--budgets 6,12` or `--rates 8,10.5`.
struct NumberList<Number: LosslessStringConvertible & Numeric & Comparable & Sendable>: ExpressibleByArgument, ExpressibleByArrayLiteral,
    Sendable {
    var values: [Number]

    init(arrayLiteral values: Number...) { self.values = values }

    init?(argument: String) {
        let entries = argument.split(separator: ",", omittingEmptySubsequences: false)
        let values = entries.compactMap { Number(String($0)) }
        guard !values.isEmpty, values.count == entries.count else { return nil }
        self.values = values
    }

    var defaultValueDescription: String { values.map(\.description).joined(separator: ",") }

    /// Throws the usage error for `flag` unless every entry is above zero.
    func requirePositive(_ flag: String) throws {
        guard values.allSatisfy({ $0 > .zero }) else { throw ValidationError("\(flag) takes positive numbers, got \(defaultValueDescription)") }
    }
}

/// The configurations to measure: the sweep files of a directory, or some of them by name.
struct ConfigurationOptions: ParsableArguments {
    @Option(help: "Directory of the configurations' sweep files and their truths.json.")
    var dir = "bench/accuracy"

    @Option(help: "Only these configurations, comma-separated (default: all in --dir).")
    var configs: String?

    var names: [String]? { configs.map { $0.split(separator: ",").map(String.init) } }
}

/// How many searches per configuration, and of which budgets.
struct SearchOptions: ParsableArguments {
    @Option(help: "Workload seeds per configuration and variant (seeds 1 to N).")
    var seeds = 30

    @Option(help: "Probe budgets of the fitted search, comma-separated.")
    var budgets: NumberList<Int> = [6, 12]

    func validate() throws {
        if seeds < 1 { throw ValidationError("--seeds must be at least 1, got \(seeds)") }
        try budgets.requirePositive("--budgets")
    }
}

/// How ground truths missing from truths.json (or all, with --recompute-truths) are measured.
struct TruthOptions: ParsableArguments {
    @Flag(help: "Measure every ground truth again, not only the missing ones.")
    var recomputeTruths = false

    @Option(help: "Long runs per rate when measuring a ground truth.")
    var truthRuns = TruthSettings().runsPerRate

    func validate() throws {
        if truthRuns < 2 { throw ValidationError("--truth-runs must be at least 2, got \(truthRuns)") }
    }

    /// The default settings with these runs per rate.
    var settings: TruthSettings {
        var settings = TruthSettings()
        settings.runsPerRate = truthRuns
        return settings
    }
}

struct JobOptions: ParsableArguments {
    @Option(help: "Searches or probes run at once.")
    var jobs = 2

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1, got \(jobs)") }
    }
}
