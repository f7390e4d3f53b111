import ArgumentParser
import Foundation
import MetronModel
import MetronReport
import MetronStats

func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return .nan }
    return kib / 1024
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// A synthetic record: TTFT 0.1-1 s, exponential gaps around 25 ms, a stall now and then, and a
/// chunk of several tokens one time in ten.
func syntheticRecord(id: Int, tokens: Int, rng: RandomSource) -> RequestRecord {
    let arrival = Double(id) * 0.01
    var t = arrival + 0.1 + 0.9 * rng.uniform()
    var times: [Double] = [], counts: [Int] = []
    var emitted = 0
    while emitted < tokens {
        let k = min(tokens - emitted, rng.uniform() < 0.1 ? rng.integer(in: 2...4) : 1)
        times.append(t)
        counts.append(k)
        emitted += k
        t += rng.exponential(rate: 40) + (rng.uniform() < 0.01 ? 0.5 : 0)
    }
    return RequestRecord(
        id: id, scheduledS: arrival, sentS: arrival + 0.0001, chunkTimesS: times, chunkTokens: counts,
        requestedPromptTokens: 512, requestedOutputTokens: tokens, promptTokens: 512, outputTokens: tokens)
}

/// Writes synthetic records to a file, for `summary` and `compute`.
struct GenerateRecords: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gen", abstract: "Write synthetic records as JSON lines.")

    @Argument(help: "The records file to write.")
    var file: String

    @Argument(help: "How many records.")
    var requests: Int

    @Argument(help: "Output tokens of each record.")
    var tokens: Int

    func validate() throws {
        if requests < 0 { throw ValidationError("REQUESTS must not be negative, got \(requests)") }
    }

    /// Written as a run writes them: the JSON lines and their binary copy.
    func run() async throws {
        let url = URL(fileURLWithPath: file)
        try? FileManager.default.removeItem(at: url)
        let out = try RecordsFileWriter(creating: url)
        let rng = RandomSource(seed: 1)
        var batch: [RequestRecord] = []
        for i in 0..<requests {
            batch.append(syntheticRecord(id: i, tokens: tokens, rng: rng))
            if batch.count == 1000 { out.append(batch); batch.removeAll() }
        }
        out.append(batch)
        out.close()
        if let failure = out.failure { throw ValidationError("\(file): \(failure)") }
    }
}

/// A records file to read (from `gen`).
struct RecordsInput: ParsableArguments {
    @Argument(help: "The records file to read.")
    var file: String

    var url: URL { URL(fileURLWithPath: file) }
}

/// Streams a records file (twice) and computes every metric: peak memory must not grow with the file.
struct SummarizeRecords: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "summary", abstract: "Time every metric of a records file, streamed.")

    @OptionGroup var input: RecordsInput

    @Flag(help: "Also print the whole summary as JSON (to compare readers bit for bit).")
    var json = false

    @Flag(help: "Only read the file once, computing nothing (the reader's own speed).")
    var readOnly = false

    func run() async throws {
        let copy = RecordsFile.hasMatchingBinaryCopy(input.url) ? 1 : 0
        let start = now()
        var requests = 0
        if readOnly {
            try RecordsFile.forEach(input.url) { _ in requests += 1 }
            let elapsed = now() - start
            print(String(format: "swift-read binary_copy=%d requests=%d seconds=%.3f per_request_us=%.2f peak_rss_mib=%.1f",
                         copy, requests, elapsed, elapsed / Double(requests) * 1e6, peakRSSMiB()))
            return
        }
        let url = input.url, deadlines = FluidityDeadlines.referenceDefault
        let summary = try RunSummary(
            firstPass: { visit in
                try RecordsFile.forEach(url, prepare: { RecordFigures($0, deadlines: deadlines) }) { visit($0); requests += 1 }
            },
            secondPass: { filter, visit in try RecordsFile.forEach(url, prepare: { filter.kept(in: $0) }, visit) },
            targetRate: nil, deadlines: deadlines)
        let elapsed = now() - start
        print(String(format: "swift-file binary_copy=%d requests=%d seconds=%.3f per_request_us=%.2f peak_rss_mib=%.1f p1_fluidity=%.6f tbt_p99=%.6f",
                     copy, requests, elapsed, elapsed / Double(requests) * 1e6, peakRSSMiB(), summary.fluidity.p1 ?? .nan,
                     summary.tbt.p99 ?? .nan))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        }
    }
}

/// The first records of a file in memory, metrics only: parsing is outside the timing.
struct ComputeRecords: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compute", abstract: "Time every metric of the first records of a file, in memory.")

    @OptionGroup var input: RecordsInput

    @Argument(help: "How many records, from the start of the file.")
    var count: Int

    func run() async throws {
        var records: [RequestRecord] = []
        try? RecordsFile.forEach(input.url) {
            if records.count < count { records.append($0) } else { throw CancellationError() }
        }
        let start = now()
        let summary = RunSummary(records: records, targetRate: nil, deadlines: .referenceDefault)
        let elapsed = now() - start
        print(String(format: "swift-compute requests=%d seconds=%.3f per_request_us=%.2f p1_fluidity=%.6f tbt_p99=%.6f fluid_rate=%.4f",
                     records.count, elapsed, elapsed / Double(records.count) * 1e6, summary.fluidity.p1 ?? .nan,
                     summary.tbt.p99 ?? .nan, summary.tokenRates.fluidTokenGenerationRate ?? .nan))
    }
}
