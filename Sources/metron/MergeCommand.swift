import ArgumentParser
import Foundation
import MetronModel
import MetronReport

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the shards of a sharded run (OUT/shards/I/) into one run in OUT.",
        discussion: """
            Checks that the shards are one plan split once: every shard of the count there exactly once, \
            the same plan and settings, time 0 within --max-clock-spread on every shard's clock, and every \
            planned request recorded by exactly one shard. Then writes OUT/requests.jsonl, run.json and \
            summary.json, with the client health of all shards combined. On any problem it lists them all \
            and writes nothing; it never overwrites a merged run.
            """)

    @Argument(help: "The --out directory the shards were given.")
    var directory: String

    @Option(help: "Largest spread of the shards' time 0 (and bound on each clock's error), seconds.")
    var maxClockSpread = 0.01

    func validate() throws {
        guard maxClockSpread > 0, maxClockSpread.isFinite else {
            throw ValidationError("--max-clock-spread must be a positive number of seconds, got \(maxClockSpread)")
        }
    }

    func run() throws {
        let merge = ShardMerge(directory: URL(fileURLWithPath: directory, isDirectory: true), maxClockSpreadS: maxClockSpread)
        let (settings, summary): (RunSettings, RunSummary)
        do {
            (settings, summary) = try merge.run(onWarning: { log("warning: \($0)") })
        } catch let problems as ShardMerge.Problems {
            throw ValidationError("\(directory): the shards cannot be merged:\n" + problems.problems.map { "  - " + $0 }.joined(separator: "\n"))
        }
        print(SummaryText.render(summary))
        print("merged \(settings.merged?.count ?? 0) shards: wrote \(directory)/\(RunDirectory.recordsFile), \(RunDirectory.summaryFile), \(RunDirectory.settingsFile)")
    }
}
